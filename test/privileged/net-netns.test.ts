import type { ExecutionContext } from 'ava';
import type net from 'node:net';
import { readlinkSync } from 'node:fs';
import { privilegedTest } from '../helpers/privileged.js';
import { MESH_MARK, NetnsError, openNetns, originalDst, readSocketOptions, type ConnectOptions } from '../../agent/net/index.js';
import { inNs, vethPair, type Pair } from './net-topology.js';

const ownNetns = () => readlinkSync('/proc/thread-self/ns/net');

function accepted(server: net.Server): Promise<net.Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

function firstData(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
}

/** A listener on `listenPort` in pair.a's netns and a connection to it from pair.b's; all closed at teardown. */
async function connectAcross(t: ExecutionContext, pair: Pair, listenPort: number, host: string, port: number, opts?: ConnectOptions) {
  const a = openNetns(pair.a.path);
  const b = openNetns(pair.b.path);
  t.teardown(() => { a.close(); b.close(); });
  const server = await a.listen(listenPort);
  t.teardown(() => server.close());
  const incoming = accepted(server);
  const client = await b.connect(host, port, opts);
  t.teardown(() => client.destroy());
  const peer = await incoming;
  t.teardown(() => peer.destroy());
  return { client, peer };
}

for (const family of ['v4', 'v6'] as const) {
  privilegedTest(`a listener opened in one netns is reached over ${family} from a veth peer netns, both ends marked 0x539`, async (t) => {
    const pair = vethPair(t);
    const before = ownNetns();
    const { client, peer } = await connectAcross(t, pair, 18080, pair.a[family], 18080);
    t.is(peer.remoteAddress?.replace(/^::ffff:/, ''), pair.b[family]);
    const got = firstData(peer);
    client.write('hello from b');
    t.is(await got, 'hello from b');
    const expected = { mark: MESH_MARK, noDelay: true, keepAlive: true };
    t.deepEqual(readSocketOptions(client), expected);
    t.deepEqual(readSocketOptions(peer), expected);
    t.is(MESH_MARK, 0x539);
    t.is(ownNetns(), before, 'the agent is back in its own netns');
  }, ['ip']);
}

privilegedTest('the listener lives only in the pod netns, never in the agent netns', async (t) => {
  const pair = vethPair(t);
  const a = openNetns(pair.a.path);
  t.teardown(() => a.close());
  const server = await a.listen(18081);
  t.teardown(() => server.close());
  const ss = inNs(pair.a.ns, 'ss', ['-Htln', 'sport = :18081']);
  t.regex(ss, /18081/);
  const { execFileSync } = await import('node:child_process');
  t.notRegex(execFileSync('ss', ['-Htln', 'sport = :18081'], { encoding: 'utf8' }), /18081/);
}, ['ip', 'ss']);

for (const family of ['v4', 'v6'] as const) {
  privilegedTest(`SO_ORIGINAL_DST returns the pre-REDIRECT destination (${family})`, async (t) => {
    const pair = vethPair(t);
    const tool = family === 'v4' ? 'iptables' : 'ip6tables';
    inNs(pair.a.ns, tool, ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '8080', '-j', 'REDIRECT', '--to-ports', '15006']);
    const { peer } = await connectAcross(t, pair, 15006, pair.a[family], 8080);
    t.deepEqual(originalDst(peer), { address: pair.a[family], port: 8080 });
    t.is(peer.localPort, 15006);
  }, ['ip', 'iptables', 'ip6tables']);
}

privilegedTest('an IPv4-only listener host binds only that address inside the netns', async (t) => {
  const pair = vethPair(t);
  const a = openNetns(pair.a.path);
  const b = openNetns(pair.b.path);
  t.teardown(() => { a.close(); b.close(); });
  const server = await a.listen(18082, { host: pair.a.v4 });
  t.teardown(() => server.close());
  t.is((server.address() as net.AddressInfo).address, pair.a.v4);
  const err = await t.throwsAsync(b.connect(pair.a.v6, 18082));
  t.is((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});

privilegedTest('a connection can be bound to a local address of the netns it was made in', async (t) => {
  const pair = vethPair(t);
  const { client } = await connectAcross(t, pair, 18083, pair.a.v4, 18083, { localAddress: pair.b.v4 });
  t.is(client.localAddress, pair.b.v4);
});

privilegedTest('a missing netns path and a file that is not a netns are refused with NetnsError', async (t) => {
  const before = ownNetns();
  t.throws(() => openNetns('/run/netns/does-not-exist-d1'), { instanceOf: NetnsError, message: /does not exist/ });
  t.throws(() => openNetns('/etc/hostname'), { instanceOf: NetnsError, message: /not a usable network namespace/ });
  t.is(ownNetns(), before);
});

privilegedTest('a closed handle refuses new sockets and existing ones keep working', async (t) => {
  const pair = vethPair(t);
  const a = openNetns(pair.a.path);
  const server = await a.listen(18084);
  t.teardown(() => server.close());
  a.close();
  a.close();
  await t.throwsAsync(a.listen(18085), { instanceOf: NetnsError, message: /closed/ });
  const b = openNetns(pair.b.path);
  t.teardown(() => b.close());
  const client = await b.connect(pair.a.v4, 18084);
  t.is(client.remotePort, 18084, 'the listener opened before close() still accepts');
  client.destroy();
});

privilegedTest('connecting from a netns to an unreachable address times out instead of hanging', async (t) => {
  const pair = vethPair(t);
  inNs(pair.a.ns, 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '18086', '-j', 'DROP']);
  const b = openNetns(pair.b.path);
  t.teardown(() => b.close());
  const err = await t.throwsAsync(b.connect(pair.a.v4, 18086, { timeoutMs: 300 }));
  t.is((err as NodeJS.ErrnoException).code, 'ETIMEDOUT');
}, ['ip', 'iptables']);

privilegedTest('redirect rules that skip mark 0x539 leave the agent’s connections alone but capture unmarked ones', async (t) => {
  const pair = vethPair(t);
  // The in-pod rules' essence: redirect outbound TCP to 15001 unless it carries the mesh mark.
  inNs(pair.b.ns, 'iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', pair.a.v4, '-m', 'mark', '!', '--mark', '0x539/0xfff', '-j', 'REDIRECT', '--to-ports', '15001']);
  const a = openNetns(pair.a.path);
  const b = openNetns(pair.b.path);
  t.teardown(() => { a.close(); b.close(); });
  const app = await a.listen(18087);
  t.teardown(() => app.close());
  const capture = await b.listen(15001);
  t.teardown(() => capture.close());
  const reached = (server: net.Server) => new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no connection arrived within 5 s')), 5_000);
    server.once('connection', (s: net.Socket) => { clearTimeout(timer); resolve(s.localAddress ?? ''); s.destroy(); });
  });

  const toApp = reached(app);
  const marked = await b.connect(pair.a.v4, 18087);
  t.teardown(() => marked.destroy());
  t.regex(await toApp, new RegExp(pair.a.v4.replace(/\./g, '\\.')), 'the marked connection reaches the destination');

  const toCapture = reached(capture);
  const unmarked = await b.connect(pair.a.v4, 18087, { mark: 0 });
  t.teardown(() => unmarked.destroy());
  t.regex(await toCapture, /\d/, 'the unmarked connection was captured by the redirect to 15001');
  t.is(readSocketOptions(unmarked).mark, 0);
}, ['ip', 'iptables']);

privilegedTest('a syscall failing inside the setns window still returns the agent to its own netns', async (t) => {
  const pair = vethPair(t);
  const before = ownNetns();
  const a = openNetns(pair.a.path);
  t.teardown(() => a.close());
  await t.throwsAsync(a.listen(18090, { host: '192.0.2.1' }), { message: /bind \(192\.0\.2\.1:18090\) failed: EADDRNOTAVAIL/ });
  t.is(ownNetns(), before);
  // A socket Node makes now must be in the agent's netns, not the pod's.
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  t.notRegex(inNs(pair.a.ns, 'ss', ['-Htln', `sport = :${port}`]), new RegExp(`:${port}`));
}, ['ip', 'ss']);
