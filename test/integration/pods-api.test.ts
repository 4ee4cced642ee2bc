import test from 'ava';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CniApiServer } from '../../agent/pods/cni-api.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import { registry as metricsRegistry } from '../../metrics/registry.js';
import { listeningPodPorts, podBody, podNetns, podPortSockets } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { startPodApi } from '../helpers/pod-api.js';

setLogSink(() => undefined);
const log = createLogger('test');

const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-0, namespace: shop}
spec: {nodeName: n1, serviceAccountName: cart}
status: {podIP: 10.77.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: batch-0, namespace: legacy}
spec: {nodeName: n1}
status: {podIP: 10.77.0.3}
`;

interface Reply { status: number; body: Record<string, unknown> & { error?: string } }

function call(socketPath: string, method: string, path: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Reply['body'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function agentParts(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'd1-pods-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socketPath = join(dir, 'run', 'cni.sock');
  const { store, api, pods, live } = await startPodApi(t, { dir, meshYaml: MESH, socketPath, log });
  return { dir, socketPath, store, api, pods, live };
}

async function counter(labels: Record<string, string>): Promise<number> {
  const m = await metricsRegistry.getSingleMetric('meshnode_pod_registrations_total')?.get();
  return m?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
}

test.serial('the API socket is created with mode 0600 and removed on close', async (t) => {
  const { socketPath, api } = await agentParts(t);
  t.is((await stat(socketPath)).mode & 0o777, 0o600);
  await api.close();
  await t.throwsAsync(stat(socketPath), { code: 'ENOENT' });
});

test.serial('a stale socket is replaced, but a regular file at the socket path is not', async (t) => {
  const { dir, socketPath, api, pods, live } = await agentParts(t);
  await api.close();
  const stale = new CniApiServer({ registry: pods, enrollment: () => ({ enrolled: false, reason: '' }), live, log }, socketPath);
  await stale.start();
  const again = new CniApiServer({ registry: pods, enrollment: () => ({ enrolled: false, reason: 'x' }), live, log }, socketPath);
  // The first server still holds the old socket inode; the new one replaces the path.
  await again.start();
  t.teardown(() => again.close());
  t.is((await call(socketPath, 'GET', '/v1/enrollment?namespace=a&name=b')).body.reason, 'x');
  await stale.close().catch(() => undefined);
  const file = join(dir, 'not-a-socket');
  await writeFile(file, 'x');
  const blocked = new CniApiServer({ registry: pods, enrollment: () => ({ enrolled: false, reason: '' }), live, log }, file);
  await t.throwsAsync(blocked.start(), { message: /is not a socket/ });
});

test.serial('enrollment follows the mesh config and missing parameters are named', async (t) => {
  const { socketPath } = await agentParts(t);
  t.like(await call(socketPath, 'GET', '/v1/enrollment?namespace=shop&name=cart-0'), { status: 200, body: { enrolled: true } });
  const legacy = await call(socketPath, 'GET', '/v1/enrollment?namespace=legacy&name=batch-0');
  t.like(legacy, { status: 200, body: { enrolled: false } });
  t.is(typeof legacy.body.reason, 'string');
  // Not listed yet: an ambient namespace captures it, any other namespace does not.
  t.like(await call(socketPath, 'GET', '/v1/enrollment?namespace=shop&name=ghost'),
    { status: 200, body: { enrolled: true, reason: 'namespace shop is ambient; pod ghost is not yet in the mesh config' } });
  t.like(await call(socketPath, 'GET', '/v1/enrollment?namespace=legacy&name=ghost'), { status: 200, body: { enrolled: false } });
  t.like(await call(socketPath, 'GET', '/v1/enrollment?namespace=nowhere&name=ghost'), { status: 200, body: { enrolled: false } });
  t.like(await call(socketPath, 'GET', '/v1/enrollment?name=cart-0'), { status: 400, body: { error: 'query parameter "namespace" is required' } });
  t.is((await call(socketPath, 'POST', '/v1/enrollment')).status, 405);
});

const badBodies: [string, string, string][] = [
  ['invalid JSON', '{"uid": "u1",', 'body is not valid JSON'],
  ['an empty body', '', 'body is empty'],
  ['a missing netns', JSON.stringify({ uid: 'u1', namespace: 'shop', name: 'cart-0', ips: [] }), 'field "netns": is required'],
  ['a bad IP', JSON.stringify({ uid: 'u1', namespace: 'shop', name: 'cart-0', netns: '/run/netns/x', ips: ['10.0.0.1', 'nope'] }), 'field "ips[1]": "nope" is not an IP address'],
  ['a JSON array', '[]', 'field "$"'],
];

for (const [what, body, message] of badBodies) {
  test.serial(`POST /v1/pods with ${what} answers 400 naming the problem`, async (t) => {
    const { socketPath } = await agentParts(t);
    const before = await counter({ operation: 'add', result: 'bad_request' });
    const reply = await call(socketPath, 'POST', '/v1/pods', body);
    t.is(reply.status, 400);
    t.true(reply.body.error?.startsWith(message), reply.body.error);
    t.is(await counter({ operation: 'add', result: 'bad_request' }), before + 1);
  });
}

test.serial('POST for a pod that is not enrolled answers 409 and for a missing netns 422', async (t) => {
  const { socketPath, store } = await agentParts(t);
  const legacy = await call(socketPath, 'POST', '/v1/pods', JSON.stringify({ uid: 'u2', namespace: 'legacy', name: 'batch-0', netns: '/run/netns/none', ips: ['10.77.0.3'] }));
  t.is(legacy.status, 409);
  t.regex(legacy.body.error ?? '', /not enrolled/);
  const missing = await call(socketPath, 'POST', '/v1/pods', podBody('u1', 'cart-0', '/run/netns/d1-missing-netns', '10.77.0.2'));
  t.is(missing.status, 422);
  t.regex(missing.body.error ?? '', /does not exist/);
  t.deepEqual((await store.load()).pods, [], 'nothing refused is persisted');
});

test.serial('POST with a FIFO as the netns answers 422 at once instead of blocking the agent', async (t) => {
  const { socketPath } = await agentParts(t);
  const dir = await mkdtemp(join(tmpdir(), 'pods-fifo-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  execFileSync('mkfifo', [join(dir, 'netns')]);
  const reply = await call(socketPath, 'POST', '/v1/pods', podBody('u-fifo', 'cart-0', join(dir, 'netns'), '10.77.0.2'));
  t.is(reply.status, 422);
  t.regex(reply.body.error ?? '', /not a usable network namespace/);
});

test.serial('GET of an unknown pod is 404, DELETE of an unknown pod is 200, other routes 404/405', async (t) => {
  const { socketPath } = await agentParts(t);
  t.is((await call(socketPath, 'GET', '/v1/pods/nope')).status, 404);
  t.like(await call(socketPath, 'DELETE', '/v1/pods/nope'), { status: 200, body: { uid: 'nope', removed: false } });
  t.like(await call(socketPath, 'DELETE', '/v1/pods/nope'), { status: 200, body: { removed: false } });
  t.is((await call(socketPath, 'PUT', '/v1/pods/nope')).status, 405);
  t.is((await call(socketPath, 'GET', '/v2/things')).status, 404);
  t.is((await call(socketPath, 'DELETE', '/v1/pods/%E0%A4%A')).status, 400);
  t.like(await call(socketPath, 'DELETE', `/v1/pods/${encodeURIComponent('a/b c')}`), { status: 200, body: { uid: 'a/b c' } });
});

privilegedTest('POST opens the listeners in the pod netns before answering, and POST/DELETE are idempotent', async (t) => {
  const { socketPath, store } = await agentParts(t);
  const ns = podNetns(t, 'd1pod');
  const body = podBody('u1', 'cart-0', ns.path, '10.77.0.2');

  const first = await call(socketPath, 'POST', '/v1/pods', body);
  t.deepEqual(first, { status: 200, body: { uid: 'u1', listeners: [15001, 15006, 15008] } });
  t.deepEqual(listeningPodPorts(ns.name), [15001, 15006, 15008], 'listeners are open when the answer arrives');
  t.deepEqual(await call(socketPath, 'POST', '/v1/pods', body), first);
  t.like(await call(socketPath, 'GET', '/v1/pods/u1'), { status: 200, body: { uid: 'u1', netns: ns.path, ips: ['10.77.0.2'] } });
  t.is((await store.load()).pods.length, 1);

  t.like(await call(socketPath, 'DELETE', '/v1/pods/u1'), { status: 200, body: { removed: true } });
  t.deepEqual(listeningPodPorts(ns.name), []);
  t.like(await call(socketPath, 'DELETE', '/v1/pods/u1'), { status: 200, body: { removed: false } });
  t.is((await call(socketPath, 'GET', '/v1/pods/u1')).status, 404);
  t.deepEqual(await readdir(store.dir), []);
}, ['ip', 'ss']);

privilegedTest('a pod of an ambient namespace that the config does not list yet is registered with its listeners open', async (t) => {
  const { socketPath, pods } = await agentParts(t);
  const ns = podNetns(t, 'd1pod');
  const reply = await call(socketPath, 'POST', '/v1/pods', podBody('u9', 'ghost', ns.path, '10.77.0.9'));
  t.deepEqual(reply, { status: 200, body: { uid: 'u9', listeners: [15001, 15006, 15008] } });
  t.deepEqual(listeningPodPorts(ns.name), [15001, 15006, 15008]);
  t.like(pods.get('u9'), { namespace: 'shop', name: 'ghost' });
}, ['ip', 'ss']);

privilegedTest('concurrent POSTs for one pod open its listeners once', async (t) => {
  const { socketPath, pods } = await agentParts(t);
  const ns = podNetns(t, 'd1pod');
  const body = podBody('u1', 'cart-0', ns.path, '10.77.0.2');
  const replies = await Promise.all([1, 2, 3].map(() => call(socketPath, 'POST', '/v1/pods', body)));
  t.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
  t.is(pods.list().length, 1);
  t.deepEqual(podPortSockets(ns.name), { 15001: 1, 15006: 1, 15008: 1 });
}, ['ip', 'ss']);

test.serial('a body over 64 KiB is refused with 413', async (t) => {
  const { socketPath } = await agentParts(t);
  const reply = await call(socketPath, 'POST', '/v1/pods', JSON.stringify({ uid: 'x'.repeat(70_000) }));
  t.is(reply.status, 413);
  t.regex(reply.body.error ?? '', /larger than 65536 bytes/);
});

privilegedTest('a repeated POST after the netns was re-created at the same path reopens the listeners in the new namespace', async (t) => {
  const { socketPath } = await agentParts(t);
  const ns = podNetns(t, 'd1pod');
  const body = podBody('u1', 'cart-0', ns.path, '10.77.0.2');
  t.is((await call(socketPath, 'POST', '/v1/pods', body)).status, 200);
  execFileSync('ip', ['netns', 'del', ns.name]);
  execFileSync('ip', ['netns', 'add', ns.name]);
  t.deepEqual(listeningPodPorts(ns.name), []);
  t.is((await call(socketPath, 'POST', '/v1/pods', body)).status, 200);
  t.deepEqual(listeningPodPorts(ns.name), [15001, 15006, 15008]);
}, ['ip', 'ss']);
