import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeConnection } from '../../agent/sources/kube/api-client.js';
import { KubeConfigError } from '../../agent/sources/kube/index.js';

test('--kubeconfig: a missing file is an error naming it', async (t) => {
  const err = await t.throwsAsync(loadKubeConnection('/nonexistent/kubeconfig'), { instanceOf: KubeConfigError });
  t.regex(err!.message, /from \/nonexistent\/kubeconfig/);
});

test('--kubeconfig: a file whose context names no server is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config'), 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n');
  await t.throwsAsync(loadKubeConnection(join(dir, 'config')), { instanceOf: KubeConfigError, message: /names no API server/ });
});

test('in-cluster config outside a pod says to give --kubeconfig', async (t) => {
  const saved = process.env.KUBERNETES_SERVICE_HOST;
  delete process.env.KUBERNETES_SERVICE_HOST;
  t.teardown(() => { if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved; });
  await t.throwsAsync(loadKubeConnection(undefined), { instanceOf: KubeConfigError, message: /not running in a pod\); give --kubeconfig FILE/ });
});

test('the kubeconfig server and credentials are used, the trailing slash dropped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-kc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config'), `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: k, cluster: {server: "https://10.0.0.1:6443/", insecure-skip-tls-verify: false}}]
users: [{name: u, user: {token: abc123}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
`);
  const conn = await loadKubeConnection(join(dir, 'config'));
  t.is(conn.server, 'https://10.0.0.1:6443');
  const opts: { headers?: Record<string, string> } = { headers: {} };
  await conn.authorize(opts);
  t.is(opts.headers?.Authorization ?? opts.headers?.authorization, 'Bearer abc123');
});
