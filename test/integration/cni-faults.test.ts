import test from 'ava';
import http from 'node:http';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../../cni/agent-client.js';
import { runPlugin } from '../../cni/plugin.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import { startPodApi } from '../helpers/pod-api.js';
import { EnrollmentFile } from '../../agent/pods/enrollment-file.js';

// Catalogue G (CNI faults) against the real pod API on a unix socket, driving the real plugin
// entry point. None of these cases reaches a pod netns, so they need no privileges.
setLogSink(() => undefined);
const log = createLogger('test');
const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-0, namespace: shop}
spec: {nodeName: n1, serviceAccountName: cart}
status: {podIP: 10.77.0.2}
`;

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'i-cni-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function agentApi(t: { teardown(fn: () => unknown): void }, dir: string, socketPath: string) {
  return startPodApi(t, { dir, meshYaml: MESH, socketPath, log });
}

const env = (command: string, args = 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-0;K8S_POD_UID=u-cart') =>
  ({ CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: '/nonexistent/netns', CNI_IFNAME: 'eth0', CNI_ARGS: args });
const conf = (socket: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'meshnode-cni', agentSocket: socket, agentTimeoutSeconds: 2, logFile: '/dev/null', ...extra });

test('ADD for an enrolled pod whose prevResult has no IPs fails with code 104 and registers nothing', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'cni.sock');
  await agentApi(t, dir, socket);
  for (const prevResult of [undefined, { cniVersion: '1.0.0', ips: [] }]) {
    const out = await runPlugin(env('ADD'), conf(socket, prevResult ? { prevResult } : {}));
    t.is(out.exitCode, 1);
    t.like(JSON.parse(out.stdout), { code: 104, msg: 'no pod IPs in prevResult' });
  }
  t.is(await new AgentClient(socket, 2000).registration('u-cart'), undefined);
});

test('ADD for an enrolled pod without K8S_POD_UID fails with code 4', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'cni.sock');
  await agentApi(t, dir, socket);
  const out = await runPlugin(env('ADD', 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-0'),
    conf(socket, { prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.77.0.2/24' }] } }));
  t.is(out.exitCode, 1);
  t.like(JSON.parse(out.stdout), { code: 4, msg: 'K8S_POD_UID missing from CNI_ARGS' });
});

test('ADD with malformed stdin JSON fails with code 6 before contacting anything', async (t) => {
  const out = await runPlugin(env('ADD'), '{"cniVersion": "1.0.0", "name":');
  t.is(out.exitCode, 1);
  t.is(JSON.parse(out.stdout).code, 6);
});

const brokenAgents: [string, (res: http.ServerResponse) => void, RegExp][] = [
  ['a JSON 500', (res) => { res.writeHead(500, { 'content-type': 'application/json' }); res.end('{"error":"registry exploded"}'); }, /registry exploded/],
  ['a plain-text 500', (res) => { res.writeHead(500); res.end('Internal Server Error'); }, /non-JSON: Internal Server Error/],
  ['a 200 without "enrolled"', (res) => { res.writeHead(200); res.end('{}'); }, /no boolean "enrolled"/],
];
for (const [what, answer, message] of brokenAgents) {
  test(`ADD fails closed with code 101 when the socket answers with ${what}`, async (t) => {
    const dir = await tempDir(t);
    const socket = join(dir, 'cni.sock');
    let requests = 0;
    const server = http.createServer((_req, res) => { requests += 1; answer(res); });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const out = await runPlugin(env('ADD'), conf(socket, { prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.77.0.2/24' }] } }));
    t.is(out.exitCode, 1);
    const e = JSON.parse(out.stdout);
    t.is(e.code, 101);
    t.regex(e.msg, /cannot decide whether the pod is in the mesh/);
    t.regex(e.msg, message);
    t.is(requests, 1, 'the enrolment query failed, so no rules step and no registration followed');
  });
}

test('DEL for an unknown pod succeeds with the agent up and with the agent down', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'cni.sock');
  const { api } = await agentApi(t, dir, socket);
  t.deepEqual(await runPlugin(env('DEL', 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=gone;K8S_POD_UID=u-gone'), conf(socket)), { exitCode: 0, stdout: '' });
  await api.close();
  t.deepEqual(await runPlugin(env('DEL', 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=gone;K8S_POD_UID=u-gone'), conf(socket)), { exitCode: 0, stdout: '' });
  t.deepEqual(await runPlugin(env('DEL'), conf(join(dir, 'never', 'cni.sock'))), { exitCode: 0, stdout: '' });
});

test('a second agent on the same socket path takes it over, and the first one closing leaves it in place', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'run', 'cni.sock');
  const first = await agentApi(t, await tempDir(t), socket);
  const second = await agentApi(t, await tempDir(t), socket);
  const inode = (await stat(socket)).ino;
  await first.api.close();
  t.is((await stat(socket)).ino, inode, 'the older agent did not remove the newer agent\'s socket');
  t.true((await new AgentClient(socket, 2000).enrollment('shop', 'cart-0')).enrolled, 'the newer agent answers on the path');
  t.is((await stat(socket)).mode & 0o777, 0o600);
  await second.api.close();
  await t.throwsAsync(stat(socket), { code: 'ENOENT' });
});

test('with the agent down, ADD decides from the enrollment state the agent last published: pods outside it start, the others fail closed', async (t) => {
  const dir = await tempDir(t);
  const socket = join(dir, 'run', 'cni.sock');
  const { api, mesh } = await agentApi(t, dir, socket);
  const published = new EnrollmentFile({ cniSocket: socket, node: 'n1', meshNamespaces: () => mesh.meshNamespaces(), log });
  await published.publish();
  await api.close();
  const prevResult = { cniVersion: '1.0.0', ips: [{ address: '10.77.0.9/24' }] };
  const legacy = await runPlugin(env('ADD', 'K8S_POD_NAMESPACE=legacy;K8S_POD_NAME=batch-1;K8S_POD_UID=u-batch'), conf(socket, { prevResult }));
  t.is(legacy.exitCode, 0, legacy.stdout);
  t.deepEqual(JSON.parse(legacy.stdout).ips, prevResult.ips, 'the pod outside the mesh starts with its result passed through');
  const shop = await runPlugin(env('ADD', 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-1;K8S_POD_UID=u-cart-1'), conf(socket, { prevResult }));
  t.is(shop.exitCode, 1);
  t.like(JSON.parse(shop.stdout), { code: 11 });
  t.regex(JSON.parse(shop.stdout).msg, /may have pods of namespace shop in the mesh/);
  await rm(published.path);
  const unknown = await runPlugin(env('ADD', 'K8S_POD_NAMESPACE=legacy;K8S_POD_NAME=batch-1;K8S_POD_UID=u-batch'), conf(socket, { prevResult }));
  t.is(unknown.exitCode, 1, 'without a published state any pod may be in the mesh');
  t.like(JSON.parse(unknown.stdout), { code: 11 });
  t.regex(JSON.parse(unknown.stdout).msg, /enrollment state .* cannot be read \(ENOENT\)/);
});
