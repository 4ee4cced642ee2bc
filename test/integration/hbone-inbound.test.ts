import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { compilePolicies } from '../../agent/authz/index.js';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import { loadMeshConfig } from '../../agent/model/load.js';
import { StateStore } from '../../agent/state/store.js';
import { currentNetns } from '../../agent/net/index.js';
import { ConnectionManager } from '../../agent/proxy/connection-manager.js';
import { DialGate } from '../../agent/proxy/dial-gate.js';
import { podTarget, type PodContext } from '../../agent/proxy/context.js';
import { handleHboneStream } from '../../agent/proxy/inbound.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import { eventually } from '../helpers/eventually.js';
import { HboneConnection } from '../../agent/tunnel/hbone-connection.js';
import { HboneServer } from '../../agent/tunnel/hbone-server.js';
import { HbonePool } from '../../agent/tunnel/pool.js';
import { TunnelError } from '../../agent/tunnel/errors.js';
import { secureContextFor } from '../../agent/tunnel/tls-config.js';
import { registry } from '../../metrics/registry.js';
import { IssuedCerts, TestCa } from '../helpers/test-ca.js';
import { echoOnce, rawH2Session, statusOf } from '../helpers/hbone-echo.js';
import { Revocations } from '../../agent/identity/index.js';

/**
 * The inbound HBONE path of one pod on loopback, with the real mesh loader and policy engine:
 * the pod "srv" is registered (and listens) on 127.0.0.1; a DENY policy refuses the identity
 * "bad". The config gives it a unicast address (a loopback pod IP is a config error): the agent
 * finds a pod's workload by name, so the two need not agree here.
 */
const TD = 'cluster.local';
const id = (sa: string) => `spiffe://${TD}/ns/shop/sa/${sa}` as SpiffeId;
const ca = new TestCa();
const dir = mkdtempSync(join(tmpdir(), 'hbone-inbound-'));
test.after.always(() => { ca.dispose(); rmSync(dir, { recursive: true, force: true }); });

async function podContext(certs: IssuedCerts, dials: DialGate): Promise<PodContext> {
  const docs = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'srv', namespace: 'shop', labels: { app: 'srv' } }, spec: { serviceAccountName: 'srv', nodeName: 'n1' }, status: { podIP: '10.0.0.1' } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-bad', namespace: 'shop' },
      spec: { action: 'DENY', rules: [{ from: [{ source: { principals: [`${TD}/ns/shop/sa/bad`] } }] }] } },
  ];
  writeFileSync(join(dir, 'mesh.yaml'), docs.map((d) => stringify(d)).join('---\n'));
  const loaded = await loadMeshConfig(join(dir, 'mesh.yaml'), { trustDomain: TD, rootNamespace: 'istio-system' });
  if (!loaded.snapshot) throw new Error(JSON.stringify(loaded.problems));
  const mesh = StateStore.fromSnapshot(loaded.snapshot);
  const policies = compilePolicies(loaded.snapshot);
  const log = createLogger('test');
  return {
    target: podTarget({ uid: 'uid-srv', namespace: 'shop', name: 'srv', netns: '/proc/self/ns/net', ips: ['127.0.0.1'] }, () => mesh),
    netns: currentNetns(), pool: new HbonePool(), connections: new ConnectionManager(), dials, log,
    deps: { mesh: () => mesh, policies: () => policies, certs, revocations: new Revocations(() => certs.trustBundle()), trustDomain: TD, log },
  };
}

async function setup(t: { teardown(fn: () => void): void }, dials = new DialGate()) {
  const certs = new IssuedCerts([ca.rootPem]);
  for (const sa of ['srv', 'cli', 'bad']) certs.set(ca.issue([id(sa)]));
  const ctx = await podContext(certs, dials);
  const listener = await currentNetns().listen(0, { host: '127.0.0.1' });
  const server = new HboneServer(listener, {
    trustDomain: TD, certificate: () => certs.fetch(id('srv'), 1000), trustBundle: () => certs.trustBundle(),
    onStream: (req) => handleHboneStream(ctx, req), log: ctx.log,
  });
  let accepted = 0;
  const app = net.createServer({ allowHalfOpen: true }, (s) => { accepted++; s.on('error', () => {}); s.pipe(s); });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.close(); app.close(); });
  const port = (listener.address() as net.AddressInfo).port;
  const appPort = (app.address() as net.AddressInfo).port;
  const dial = async (sa: string) => HboneConnection.dial({
    socket: await currentNetns().connect('127.0.0.1', port), peer: `127.0.0.1:${port}`,
    secureContext: secureContextFor(certs.current(id(sa))!, [ca.rootPem]), expectedIdentities: [id('srv')],
  });
  const session = () => rawH2Session(port, ca.rootPem, certs.current(id('cli')));
  return { ctx, appPort, dial, session, appConnections: () => accepted };
}

async function denials(reason: string): Promise<number> {
  const m = await registry.getSingleMetric('meshnode_proxy_denials_total')?.get();
  return m?.values.find((v) => v.labels.reason === reason && v.labels.direction === 'inbound')?.value ?? 0;
}

test.serial('an allowed identity gets 200 and its bytes reach the application', async (t) => {
  const { dial, appPort, ctx } = await setup(t);
  const conn = await dial('cli');
  t.teardown(() => conn.destroy());
  const stream = await conn.connect(`127.0.0.1:${appPort}`, {});
  t.is(await echoOnce(stream, 'hello'), 'hello');
  t.is(ctx.connections.inbound('uid-srv')[0]?.attributes?.identity, id('cli'));
  stream.end();
});

test.serial('an identity a DENY policy matches gets 401 and nothing reaches the application', async (t) => {
  const { dial, appPort, ctx } = await setup(t);
  const before = await denials('deny-matched');
  const conn = await dial('bad');
  t.teardown(() => conn.destroy());
  const err = await t.throwsAsync(conn.connect(`127.0.0.1:${appPort}`, {}));
  t.true(err instanceof TunnelError);
  t.is((err as TunnelError).status, 401);
  t.is((err as TunnelError).responseFlag, 'DENY');
  t.is(ctx.connections.count(), 0);
  t.is(await denials('deny-matched'), before + 1);
});

test.serial('an application port nobody listens on gets 503, never 200', async (t) => {
  const { dial } = await setup(t);
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
  const conn = await dial('cli');
  t.teardown(() => conn.destroy());
  const err = await t.throwsAsync(conn.connect(`127.0.0.1:${closedPort}`, {}));
  t.is((err as TunnelError).status, 503);
});

test.serial('one access-log line per connection at close, with addresses, identities, bytes, duration and decision', async (t) => {
  const lines: Record<string, unknown>[] = [];
  setLogSink((line) => { const rec = JSON.parse(line) as Record<string, unknown>; if (rec.component === 'access') lines.push(rec); });
  t.teardown(() => setLogSink((line) => process.stderr.write(line + '\n')));
  const { dial, appPort } = await setup(t);
  const conn = await dial('cli');
  t.teardown(() => conn.destroy());
  const stream = await conn.connect(`127.0.0.1:${appPort}`, {});
  stream.resume();
  stream.end('12345');
  await eventually(() => { if (lines.length === 0) throw new Error('no access-log line yet'); }, 5000);
  t.is(lines.length, 1);
  const rec = lines[0]!;
  t.is(rec.msg, 'connection complete');
  t.is(rec.direction, 'inbound');
  t.is(rec['src.identity'], id('cli'));
  t.is(rec['dst.identity'], id('srv'));
  t.is(rec['dst.workload'], 'srv');
  t.is(rec['dst.hbone_addr'], `127.0.0.1:${appPort}`);
  t.is(rec.bytes_recv, 5);
  t.is(rec.bytes_sent, 5);
  t.is(rec.decision, 'no-allow-policies');
  t.regex(String(rec.duration), /^\d+ms$/);
});

test.serial('streams reset right behind their HEADERS never reach the application (rapid reset, 4 sessions)', async (t) => {
  const { session, dial, appPort, appConnections } = await setup(t);
  const sessions = Array.from({ length: 4 }, session);
  t.teardown(() => { for (const s of sessions) s.destroy(); });
  await Promise.all(sessions.map((s) => new Promise((r) => s.once('connect', r))));
  let sent = 0;
  // Under the application's accept backlog (511), so every dial made would be accepted.
  for (const s of sessions) {
    for (let i = 0; i < 110 && !s.closed && !s.destroyed; i++, sent++) {
      const req = s.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${appPort}` }, { endStream: false });
      req.on('error', () => {});
      req.close(http2.constants.NGHTTP2_CANCEL);
    }
  }
  // Every session spends its reset budget and is sent away; by then each reset was handled.
  await eventually(() => { if (!sessions.every((s) => s.closed || s.destroyed)) throw new Error('sessions still open'); }, 10_000);
  // One real connection after the burst: the application accepts in order, so once it has this
  // one it has every connection the burst made.
  const conn = await dial('cli');
  t.teardown(() => conn.destroy());
  const stream = await conn.connect(`127.0.0.1:${appPort}`, {});
  t.is(await echoOnce(stream, 'x'), 'x');
  stream.end();
  t.true(sent >= 400);
  t.is(appConnections() - 1, 0, `${appConnections() - 1} application connections for ${sent} reset streams`);
});

test.serial('past the waiting bound a peer\'s streams get 503 without dialling, the rest reach the application', async (t) => {
  const gate = new DialGate({ active: 2, waiting: 3 });
  const { session, appPort, appConnections } = await setup(t, gate);
  const before = await denials('dial-limit');
  const s = session();
  t.teardown(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  // Sent in one write, so all ten arrive together and ask for a dial in the same turn.
  const answers = await Promise.all(Array.from({ length: 10 }, () => statusOf(s, { ':method': 'CONNECT', ':authority': `127.0.0.1:${appPort}` })));
  t.deepEqual([...answers].sort(), [200, 200, 200, 200, 200, 503, 503, 503, 503, 503]);
  t.is(await denials('dial-limit'), before + 5);
  await eventually(() => { if (appConnections() < 5) throw new Error(`${appConnections()} application connections`); }, 5000);
  t.is(appConnections(), 5);
  await eventually(() => { if (gate.load(id('cli')).active !== 0) throw new Error('dials still counted'); }, 5000);
});
