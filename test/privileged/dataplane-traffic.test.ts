import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type net from 'node:net';
import { canonicalIp } from '../../agent/base/ip.js';
import { MESH_MARK, readSocketOptions } from '../../agent/net/index.js';
import { registry } from '../../metrics/registry.js';
import { privilegedTest } from '../helpers/privileged.js';
import { eventually } from '../helpers/eventually.js';
import { inNs } from '../helpers/topology.js';
import { ID_A, ID_B, SERVICE_VIP, closed, echo, readAll, startDataplane, unusedId } from './dataplane-harness.js';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';

const PORT = 8080;

async function exchange(sock: net.Socket, payload: Buffer): Promise<Buffer> {
  const got = readAll(sock);
  sock.end(payload);
  return got;
}

async function counterValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

privilegedTest('pod a reaches pod b on another node through HBONE; the link carries TLS and never the payload', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', PORT, echo);
  const n1 = dp.topo.node('n1');
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-cap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pcap = join(dir, 'link.pcap');
  const dump = spawn('ip', ['netns', 'exec', n1.netns, 'tcpdump', '-i', n1.linkDev, '--immediate-mode', '-U', '-n', '-w', pcap, 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { dump.kill('SIGKILL'); });
  await new Promise<void>((resolve) => dump.stderr.on('data', (d: Buffer) => { if (d.toString().includes('listening')) resolve(); }));
  const opened = await counterValue('istio_tcp_connections_opened_total', { reporter: 'source', source_principal: ID_A, destination_principal: ID_B });
  const marker = Buffer.from(`meshnode-secret-${randomBytes(8).toString('hex')}`);
  const sock = await dp.connect('a', 'b', PORT);
  const echoed = await exchange(sock, Buffer.concat([marker, randomBytes(64 * 1024), marker]));
  t.true(echoed.subarray(0, marker.length).equals(marker));
  const labels = { reporter: 'source', source_principal: ID_A, destination_principal: ID_B, connection_security_policy: 'mutual_tls' };
  await eventually(async () => { if (await counterValue('istio_tcp_connections_opened_total', labels) !== opened + 1) throw new Error('not counted yet'); });
  await eventually(async () => { if (await counterValue('istio_tcp_connections_closed_total', labels) < 1) throw new Error('close not counted yet'); });
  const exited = new Promise((r) => dump.once('exit', r));
  dump.kill('SIGTERM');
  await exited;
  const captured = readFileSync(pcap);
  t.false(captured.includes(marker), 'the payload marker crossed the link in clear text');
  const summary = inNs(n1.netns, 'tcpdump', ['-r', pcap, '-n', 'tcp port 15008']);
  t.true(summary.split('\n').filter(Boolean).length > 4, 'no HBONE (15008) traffic on the link');
  t.true(captured.includes(Buffer.from([0x17, 0x03, 0x03])), 'no TLS application-data records on the link');
  t.false(inNs(n1.netns, 'tcpdump', ['-r', pcap, '-n', `tcp port ${PORT}`]).trim().length > 0, 'plain traffic to the app port crossed the link');
});

privilegedTest('half-close works through the tunnel: the server answers after the client finished sending', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', PORT, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => s.end(`got ${Buffer.concat(chunks).length} bytes`));
  });
  const sock = await dp.connect('a', 'b', PORT);
  const reply = await exchange(sock, randomBytes(100_000));
  t.is(reply.toString(), 'got 100000 bytes');
});

privilegedTest('1 GB passes from pod a to pod b with equal SHA-256 at both ends', async (t) => {
  const dp = await startDataplane(t);
  const serverHash = createHash('sha256');
  let serverBytes = 0;
  const done = new Promise<void>((resolve) => {
    void dp.serve('b', PORT, (s) => {
      s.on('data', (c: Buffer) => { serverBytes += c.length; serverHash.update(c); });
      s.on('end', () => { s.end(); resolve(); });
    });
  });
  const sock = await dp.connect('a', 'b', PORT);
  const clientHash = createHash('sha256');
  const block = randomBytes(1024 * 1024);
  const total = 1024;
  for (let i = 0; i < total; i++) {
    block.writeUInt32LE(i, 0);
    clientHash.update(block);
    if (!sock.write(Buffer.from(block))) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
  await done;
  t.is(serverBytes, total * 1024 * 1024);
  t.is(serverHash.digest('hex'), clientHash.digest('hex'));
});

privilegedTest('a DENY policy stops pod a → pod b and nothing reaches b', async (t) => {
  const dp = await startDataplane(t);
  await dp.setPolicy('STRICT', [{
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-a', namespace: 'shop' },
    spec: { selector: { matchLabels: { app: 'b' } }, action: 'DENY', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/a'] } }] }] },
  }]);
  const server = await dp.serve('b', PORT, echo);
  const denied = await counterValue('meshnode_proxy_denials_total', { direction: 'inbound', reason: 'deny-matched' });
  const sock = await dp.connect('a', 'b', PORT);
  sock.on('error', () => {});
  sock.write('hello');
  const got = await readAll(sock).catch(() => Buffer.alloc(0));
  t.is(got.length, 0);
  await closed(sock);
  t.is(server.accepted.length, 0);
  t.is(await counterValue('meshnode_proxy_denials_total', { direction: 'inbound', reason: 'deny-matched' }), denied + 1);
});

for (const [mode, allowed] of [['STRICT', false], ['PERMISSIVE', true]] as const) {
  privilegedTest(`an out-of-mesh plaintext client is ${allowed ? 'accepted by PERMISSIVE' : 'refused by STRICT'}`, async (t) => {
    const dp = await startDataplane(t, mode);
    const server = await dp.serve('b', PORT, echo);
    // A refused connection may be reset before or after the client saw it established.
    const reply = await dp.connect('out', 'b', PORT)
      .then((sock) => exchange(sock, Buffer.from('plain hello')))
      .catch(() => Buffer.alloc(0));
    t.is(reply.toString(), allowed ? 'plain hello' : '');
    t.is(server.accepted.length, allowed ? 1 : 0);
  });
}

privilegedTest('a server presenting the wrong identity is refused by secure naming before any byte is sent', async (t) => {
  const dp = await startDataplane(t);
  // Pod b now holds a valid mesh certificate, but for an identity that is not b's.
  dp.certs.set({ ...dp.ca.issue([unusedId()]), id: ID_B as never });
  const server = await dp.serve('b', PORT, echo);
  const sock = await dp.connect('a', 'b', PORT);
  sock.on('error', () => {});
  sock.write('must not arrive');
  const got = await readAll(sock).catch(() => Buffer.alloc(0));
  t.is(got.length, 0);
  t.is(server.accepted.length, 0);
});

privilegedTest('deleting the destination pod and tightening policy both close live connections', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', PORT, echo);
  const first = await dp.connect('a', 'b', PORT);
  first.on('error', () => {});
  const ping = (s: net.Socket) => new Promise<string>((resolve) => { s.once('data', (d: Buffer) => resolve(d.toString())); s.write('ping'); });
  t.is(await ping(first), 'ping');
  await dp.setPolicy('STRICT', [{
    apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-all-b', namespace: 'shop' },
    spec: { selector: { matchLabels: { app: 'b' } }, action: 'DENY', rules: [{}] },
  }]);
  await closed(first);
  t.pass('policy change closed the connection');
  await dp.setPolicy('STRICT');
  const second = await dp.connect('a', 'b', PORT);
  second.on('error', () => {});
  t.is(await ping(second), 'ping');
  await dp.proxies.get('n2')!.remove(dp.uidOf('b'));
  await closed(second);
  t.is(dp.proxies.get('n2')!.connections.count(dp.uidOf('b')), 0);
});

privilegedTest('agent sockets in pod netns carry the mark 0x539, TCP_NODELAY and keepalive', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', PORT, echo);
  const sock = await dp.connect('a', 'b', PORT);
  sock.write('x');
  await new Promise((r) => sock.once('data', r));
  const outbound = dp.proxies.get('n1')!.connections.of(dp.uidOf('a'));
  const inbound = dp.proxies.get('n2')!.connections.of(dp.uidOf('b'));
  t.is(outbound.length, 1);
  t.is(inbound.length, 1);
  const sockets = [...outbound[0]!.sockets, ...inbound[0]!.sockets];
  t.is(sockets.length, 4);
  for (const s of sockets) t.deepEqual(readSocketOptions(s), { mark: MESH_MARK, noDelay: true, keepAlive: true });
  t.deepEqual(readSocketOptions(sock), { mark: 0, noDelay: true, keepAlive: true }, 'the application socket is not marked');
});

privilegedTest('a Service VIP reaches the endpoint pod on its target port through HBONE', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', PORT, echo);
  const sock = await dp.connect('a', SERVICE_VIP, 80);
  t.is((await exchange(sock, Buffer.from('via service'))).toString(), 'via service');
  t.true(await counterValue('istio_tcp_connections_opened_total', { reporter: 'source', destination_service: 'b.shop.svc.cluster.local', destination_principal: ID_B }) >= 1);
});

privilegedTest('without a certificate for the source pod the connection is refused, never sent without identity', async (t) => {
  const dp = await startDataplane(t);
  dp.certs.delete(ID_A as SpiffeId);
  const server = await dp.serve('b', PORT, echo);
  const before = await counterValue('meshnode_proxy_denials_total', { direction: 'outbound', reason: 'no-certificate' });
  const reply = await dp.connect('a', 'b', PORT).then((s) => exchange(s, Buffer.from('no identity'))).catch(() => Buffer.alloc(0));
  t.is(reply.length, 0);
  t.is(server.accepted.length, 0);
  t.is(await counterValue('meshnode_proxy_denials_total', { direction: 'outbound', reason: 'no-certificate' }), before + 1);
});

/** A server that answers each connection with the peer address it sees, canonical. */
function tellPeer(s: net.Socket): void {
  s.on('error', () => {});
  s.end(canonicalIp(s.remoteAddress ?? '') ?? `unparsable ${s.remoteAddress}`);
}

privilegedTest('the application in pod b sees pod a\'s IP as the peer of a connection that came over HBONE', async (t) => {
  const dp = await startDataplane(t);
  const server = await dp.serve('b', PORT, tellPeer);
  const sock = await dp.connect('a', 'b', PORT);
  t.is((await exchange(sock, Buffer.alloc(0))).toString(), dp.topo.pod('a').ip);
  t.is(server.accepted.length, 1);
});

privilegedTest('the application in pod b sees the out-of-mesh client\'s IP as the peer of an accepted plaintext connection', async (t) => {
  const dp = await startDataplane(t, 'PERMISSIVE');
  const server = await dp.serve('b', PORT, tellPeer);
  const sock = await dp.connect('out', 'b', PORT);
  t.is((await exchange(sock, Buffer.alloc(0))).toString(), dp.topo.pod('out').ip);
  t.is(server.accepted.length, 1);
});
