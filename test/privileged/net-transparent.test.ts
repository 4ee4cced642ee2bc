import type { ExecutionContext } from 'ava';
import type net from 'node:net';
import { eventually } from '../helpers/eventually.js';
import { privilegedTest } from '../helpers/privileged.js';
import { TransparentBindError, openNetns } from '../../agent/net/index.js';
import { canonicalIp } from '../../agent/base/ip.js';
import { applyInpodRules } from '../../agent/capture/apply.js';
import { vethPair } from './net-topology.js';

function accepted(server: net.Server): Promise<net.Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

function firstData(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
}

/** The veth pair, b's netns handle with the in-pod rules, and a server on b's address. */
async function podServer(t: ExecutionContext, family: 'v4' | 'v6', port: number) {
  const pair = vethPair(t);
  await applyInpodRules(pair.b.path, { ipv6: true });
  const b = openNetns(pair.b.path);
  t.teardown(() => b.close());
  const server = await b.listen(port, { host: pair.b[family] });
  t.teardown(() => server.close());
  return { pair, b, server };
}

/*
 * Netns b plays the destination pod (the in-pod rules and policy routing installed), a is the
 * remote client whose address the agent borrows. Without the fwmark 0x111 → table 100 route the
 * server's replies would be routed to a over the veth and the connection would never establish.
 */
for (const family of ['v4', 'v6'] as const) {
  privilegedTest(`a transparent connection in a pod netns carries a foreign ${family} source and gets its replies back`, async (t) => {
    const { pair, b, server } = await podServer(t, family, 18090);
    const incoming = accepted(server);
    const client = await b.connect(pair.b[family], 18090, { localAddress: pair.a[family], transparent: true, timeoutMs: 3000 });
    t.teardown(() => client.destroy());
    const peer = await incoming;
    t.teardown(() => peer.destroy());
    t.is(canonicalIp(peer.remoteAddress ?? ''), pair.a[family], 'the server sees the borrowed address');
    t.is(canonicalIp(client.localAddress ?? ''), pair.a[family]);
    const reply = firstData(client);
    peer.write('reply to a');
    t.is(await reply, 'reply to a');
  }, ['ip', 'iptables-restore', 'ip6tables-restore']);
}

privilegedTest('a transparent source of the other address family is refused before anything is sent', async (t) => {
  const pair = vethPair(t);
  const b = openNetns(pair.b.path);
  t.teardown(() => b.close());
  const err = await t.throwsAsync(b.connect(pair.b.v4, 18091, { localAddress: pair.a.v6, transparent: true }));
  t.true(err instanceof TransparentBindError);
  t.is((err as TransparentBindError).code, 'ERR_NET_TRANSPARENT');
});

for (const family of ['v4', 'v6'] as const) {
  privilegedTest(`a transparent ${family} connection takes the client's port, and any port when that 4-tuple is in use`, async (t) => {
    const { pair, b, server } = await podServer(t, family, 18092);
    const peers: net.Socket[] = [];
    server.on('connection', (s: net.Socket) => peers.push(s));
    t.teardown(() => { for (const s of peers) s.destroy(); });
    const opts = { localAddress: pair.a[family], localPort: 41000, transparent: true, timeoutMs: 3000 };
    const first = await b.connect(pair.b[family], 18092, opts);
    t.teardown(() => first.destroy());
    t.is(first.localPort, 41000);
    // Same source, port and destination as an open connection: the kernel picks another port.
    const second = await b.connect(pair.b[family], 18092, opts);
    t.teardown(() => second.destroy());
    t.is(canonicalIp(second.localAddress ?? ''), pair.a[family]);
    t.not(second.localPort, 41000);
    const peer = await eventually(() => peers.find((s) => s.remotePort === second.localPort) ?? Promise.reject(new Error('not accepted yet')));
    const reply = firstData(second);
    peer.write('reply on the second');
    t.is(await reply, 'reply on the second');
  }, ['ip', 'iptables-restore', 'ip6tables-restore']);
}
