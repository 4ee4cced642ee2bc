import test from 'ava';
import http from 'node:http';
import { AdminServer } from '../../agent/admin/server.js';
import { StateStore } from '../../agent/state/store.js';
import { ReadinessServer } from '../../agent/lifecycle/readiness-server.js';
import { Readiness } from '../../agent/lifecycle/readiness.js';
import { MetricsServer } from '../../metrics/server.js';
import { configReloads } from '../../metrics/agent.js';
import { createLogger, getLogLevel, resetLogLevels, setLogLevel, setLogSink } from '../../agent/telemetry/log.js';

setLogSink(() => undefined);
const log = createLogger('test');

function request(port: number, method: string, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('readiness answers 500 naming the pending blockers, then 200 ready, and 405/404 otherwise', async (t) => {
  const readiness = new Readiness(log);
  const release = readiness.block('pod registry');
  const server = new ReadinessServer(readiness);
  const { port } = await server.start('127.0.0.1', 0);
  t.teardown(() => server.close());
  t.like(await request(port, 'GET', '/healthz/ready'), { status: 500, body: 'not ready, pending: pod registry\n' });
  release();
  t.like(await request(port, 'GET', '/healthz/ready'), { status: 200, body: 'ready\n' });
  let failure: string | undefined = 'cannot create file descriptors (EMFILE) since 2026-01-01T00:00:00.000Z';
  readiness.condition('descriptors', () => failure);
  const again = readiness.block('mesh config');
  t.like(await request(port, 'GET', '/healthz/ready'), { status: 500, body: `not ready, pending: mesh config; failing: descriptors: ${failure}\n` });
  again();
  t.like(await request(port, 'GET', '/healthz/ready'), { status: 500, body: `not ready, failing: descriptors: ${failure}\n` });
  failure = undefined;
  t.like(await request(port, 'GET', '/healthz/ready'), { status: 200, body: 'ready\n' });
  t.is((await request(port, 'POST', '/healthz/ready')).status, 405);
  t.is((await request(port, 'GET', '/other')).status, 404);
});

test('a closed readiness server refuses connections, so probes fail', async (t) => {
  const server = new ReadinessServer(new Readiness(log));
  const { port } = await server.start('127.0.0.1', 0);
  await server.close();
  const err = await t.throwsAsync(request(port, 'GET', '/healthz/ready'));
  t.is((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});

test('a port already in use rejects start with an error naming the address and EADDRINUSE', async (t) => {
  const first = new MetricsServer();
  const { port } = await first.start('127.0.0.1', 0);
  t.teardown(() => first.close());
  const second = new ReadinessServer(new Readiness(log));
  const err = await t.throwsAsync(second.start('127.0.0.1', port), { message: `cannot listen on 127.0.0.1:${port}: EADDRINUSE` });
  t.like(err, { code: 'ERR_LISTEN', errno: 'EADDRINUSE' });
});

test('metrics are served on /metrics and /stats/prometheus in the Prometheus text format', async (t) => {
  configReloads.inc({ result: 'success' }, 0);
  const server = new MetricsServer();
  const { port } = await server.start('127.0.0.1', 0);
  t.teardown(() => server.close());
  for (const path of ['/metrics', '/stats/prometheus']) {
    const res = await request(port, 'GET', path);
    t.is(res.status, 200);
    t.regex(res.type, /^text\/plain/);
    t.regex(res.body, /# TYPE meshnode_config_reloads_total counter/);
  }
  t.is((await request(port, 'GET', '/nope')).status, 404);
});

function admin(shutdowns: string[]) {
  return new AdminServer({
    certs: () => [{ identity: 'spiffe://cluster.local/ns/shop/sa/cart', state: 'Available' }],
    configDump: () => ({ workloads: [], services: new Map([['a', 1]]) }),
    pods: () => [{ uid: 'u1' }],
    mesh: new StateStore({ trustDomain: 'cluster.local', rootNamespace: 'istio-system' }), connections: async () => [], status: async () => ({}),
    shutdown: (reason) => shutdowns.push(reason),
    log,
  });
}

test('admin serves certs, pods and config_dump as JSON (Maps printed as objects)', async (t) => {
  const server = admin([]);
  const { port } = await server.start('127.0.0.1', 0);
  t.teardown(() => server.close());
  const certs = await request(port, 'GET', '/certs');
  t.is(certs.type, 'application/json');
  t.deepEqual(JSON.parse(certs.body), [{ identity: 'spiffe://cluster.local/ns/shop/sa/cart', state: 'Available' }]);
  t.deepEqual(JSON.parse((await request(port, 'GET', '/pods')).body), [{ uid: 'u1' }]);
  t.deepEqual(JSON.parse((await request(port, 'GET', '/config_dump')).body), { workloads: [], services: { a: 1 } });
  t.regex((await request(port, 'GET', '/')).body, /\/quitquitquit/);
  t.is((await request(port, 'GET', '/missing')).status, 404);
});

test('admin /logging shows and changes the level, refusing unknown levels and non-POST', async (t) => {
  const before = getLogLevel();
  t.teardown(() => { resetLogLevels(); setLogLevel(before); });
  const server = admin([]);
  const { port } = await server.start('127.0.0.1', 0);
  t.teardown(() => server.close());
  t.like(await request(port, 'POST', '/logging'), { status: 200, body: `current log level is ${before}\n` });
  t.like(await request(port, 'POST', '/logging?level=debug'), { status: 200, body: 'current log level is debug\n' });
  t.is(getLogLevel(), 'debug');
  t.is((await request(port, 'POST', '/logging?level=loud')).status, 400);
  t.is((await request(port, 'PUT', '/logging')).status, 405);
  t.like(await request(port, 'POST', '/logging?level=info,proxy=debug,access=warn'), { status: 200, body: 'current log level is info,access=warn,proxy=debug\n' });
  const levels = JSON.parse((await request(port, 'GET', '/logging')).body) as { level: string; directives: Record<string, string>; components: Record<string, string> };
  t.deepEqual(levels.directives, { access: 'warn', proxy: 'debug' });
  t.is(levels.components.test, 'info', 'every component with a logger is listed with its level');
  t.like(await request(port, 'POST', '/logging?level=proxy=loud'), { status: 400 });
  t.like(await request(port, 'POST', '/logging?reset'), { status: 200, body: 'current log level is info\n' });
});

test('admin /quitquitquit starts a drain on POST only', async (t) => {
  const shutdowns: string[] = [];
  const server = admin(shutdowns);
  const { port } = await server.start('127.0.0.1', 0);
  t.teardown(() => server.close());
  t.is((await request(port, 'GET', '/quitquitquit')).status, 405);
  t.deepEqual(shutdowns, []);
  t.like(await request(port, 'POST', '/quitquitquit'), { status: 200, body: 'shutdown now\n' });
  t.deepEqual(shutdowns, ['admin /quitquitquit']);
});

test('admin profiles on demand: a CPU profile for the seconds asked, one at a time, and a heap snapshot', async (t) => {
  const server = admin([]);
  const { port } = await server.start('127.0.0.1', 0);
  t.teardown(() => server.close());
  const started = Date.now();
  const running = request(port, 'GET', '/debug/pprof/profile?seconds=1&frequency=500');
  t.like(await request(port, 'GET', '/debug/pprof/profile?seconds=1'), { status: 409, body: 'a CPU profile is already being taken; try again when it is done\n' });
  const profile = await running;
  t.true(Date.now() - started >= 1_000, 'the profile covers the second asked for');
  t.is(profile.status, 200);
  const parsed = JSON.parse(profile.body) as { nodes: unknown[]; startTime: number; endTime: number; samples: number[] };
  t.true(parsed.nodes.length > 0 && parsed.endTime > parsed.startTime, 'a .cpuprofile with call-tree nodes');
  t.like(await request(port, 'GET', '/debug/pprof/profile?seconds=0'), { status: 400, body: 'seconds: "0" is not a whole number from 1 to 300\n' });
  const heap = await request(port, 'GET', '/debug/pprof/heap');
  t.is(heap.status, 200);
  t.is(heap.type, 'application/octet-stream');
  const snapshot = JSON.parse(heap.body) as { snapshot: { node_count: number } };
  t.true(snapshot.snapshot.node_count > 1000, 'a V8 heap snapshot');
});
