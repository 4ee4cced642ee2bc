import test from 'ava';
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { AdminServer } from '../../agent/admin/server.js';
import { StateStore } from '../../agent/state/store.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';

// Admin can stop the agent, so only loopback peers are served, whatever it binds.
setLogSink(() => undefined);
const log = createLogger('test');

function request(host: string, port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const external = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;
const run = external === undefined ? test.skip : test;

run(`a non-loopback peer (${external ?? 'no non-loopback IPv4 address on this machine'}) is refused with 403 even when admin binds every address`, async (t) => {
  const shutdowns: string[] = [];
  const server = new AdminServer({
    certs: () => [], configDump: () => ({}), pods: () => [], connections: async () => [], status: async () => ({}),
    mesh: new StateStore({ trustDomain: 'cluster.local', rootNamespace: 'istio-system' }), shutdown: (reason) => shutdowns.push(reason), log,
  });
  const { port } = await server.start('0.0.0.0', 0);
  t.teardown(() => server.close());
  t.like(await request(external!, port, 'POST', '/quitquitquit'), { status: 403, body: 'the admin API is served to localhost only\n' });
  for (const path of ['/certs', '/debug/pprof/heap', '/debug/pprof/profile?seconds=1', '/logging']) {
    t.is((await request(external!, port, 'GET', path)).status, 403, path);
  }
  t.deepEqual(shutdowns, [], 'no drain was started');
  t.is((await request('127.0.0.1', port, 'GET', '/certs')).status, 200, 'loopback is still served');
  t.is((await request('127.0.0.1', port, 'POST', '/quitquitquit')).status, 200);
  t.deepEqual(shutdowns, ['admin /quitquitquit']);
});
