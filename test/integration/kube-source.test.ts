import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMeshConfig } from '../../agent/model/load.js';
import { kubeEvents, kubeRelists, kubeWatchRestarts } from '../../metrics/kube.js';
import { eventually } from '../helpers/eventually.js';
import { istioCrdsFile, startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.js';
import { ambientNamespace, kubeSettings, podYaml, startKubeSource } from '../helpers/kube-source.js';
import { kubeTest } from '../helpers/kube-test.js';
import { runMeshnode } from '../helpers/meshnode-cli.js';

/**
 * The Kubernetes source against a real kube-apiserver and etcd: what it lists and watches
 * reaches the store, survives the watch protocol's hard cases (server timeouts, bookmarks,
 * 410 Gone after compaction, an API server restart, a CRD installed late) and refuses bad
 * objects without widening access.
 */

async function counter(metric: { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)).reduce((n, v) => n + v.value, 0);
}

async function createPod(kube: KubeCluster, ns: string, name: string, ip: string, node = 'node-a'): Promise<void> {
  await kube.apply(podYaml(ns, name, node));
  await kube.setPodStatus(ns, name, { podIP: ip });
}

const policies = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web-1}
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: only-frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: web-1}}
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/frontend]}}]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: shop}
spec: {mtls: {mode: STRICT}}
`;

kubeTest('kube source: initial list, live events, bookmarks and timeouts; a kubectl dump validates to the same model', async (t) => {
  const kube = await startKubeCluster();
  t.teardown(() => kube.close());
  await kube.apply(ambientNamespace('shop') + '---\n' + policies);
  await createPod(kube, 'shop', 'web-1', '10.1.0.5');
  const bookmarksBefore = await counter(kubeEvents, { type: 'BOOKMARK' });
  const timeoutsBefore = await counter(kubeWatchRestarts, { reason: 'timeout' });

  const { source, store } = await startKubeSource(kube);
  t.teardown(() => source.close());
  // start() resolved: the initial lists are in the store.
  t.is(store.workloadByIp('10.1.0.5')?.name, 'web-1');
  t.is(store.workloadByIp('10.1.0.5')?.protocol, 'HBONE');
  t.truthy(store.snapshot().services.get('shop/web.shop.svc.cluster.local'));
  t.is(store.snapshot().authorizations.get('shop/only-frontend')?.action, 'Allow');
  t.true(store.snapshot().ambientNamespaces.has('shop'));
  t.is(source.status().state, 'synced');

  await createPod(kube, 'shop', 'web-2', '10.1.0.6');
  await eventually(() => assert.equal(store.workloadByIp('10.1.0.6')?.name, 'web-2'), 15_000);
  await kube.kubectl(['delete', 'pod', 'web-1', '-n', 'shop', '--grace-period=0', '--force']);
  await eventually(() => assert.equal(store.workloadByIp('10.1.0.5'), undefined), 15_000);

  // Watches of 3-4 s end on the server's timeout and resume from their version; bookmarks keep quiet ones current.
  await eventually(async () => {
    assert.ok(await counter(kubeWatchRestarts, { reason: 'timeout' }) > timeoutsBefore);
    assert.ok(await counter(kubeEvents, { type: 'BOOKMARK' }) > bookmarksBefore);
  }, 20_000);
  await createPod(kube, 'shop', 'web-3', '10.1.0.7');
  await eventually(() => assert.ok(store.workloadByIp('10.1.0.7')), 15_000);

  // The namespace label decides enrolment: removing it takes the namespace's pods out of HBONE, adding it back restores them.
  await kube.kubectl(['label', 'namespace', 'shop', 'istio.io/dataplane-mode-']);
  await eventually(() => {
    assert.equal(store.snapshot().ambientNamespaces.has('shop'), false);
    assert.equal(store.workloadByIp('10.1.0.7')?.protocol, 'TCP');
  }, 15_000);
  await kube.kubectl(['label', 'namespace', 'shop', 'istio.io/dataplane-mode=ambient']);
  await eventually(() => assert.equal(store.workloadByIp('10.1.0.7')?.protocol, 'HBONE'), 15_000);

  const dir = mkdtempSync(join(tmpdir(), 'meshnode-kube-dump-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dump = await kube.kubectl(['get', '-A', '-o', 'yaml',
    'namespaces,pods,services,authorizationpolicies.security.istio.io,peerauthentications.security.istio.io,serviceentries.networking.istio.io,workloadentries.networking.istio.io']);
  t.is(dump.code, 0, dump.stderr);
  writeFileSync(join(dir, 'dump.yaml'), dump.stdout);
  const fromDump = await loadMeshConfig(join(dir, 'dump.yaml'), kubeSettings);
  t.deepEqual(fromDump.problems.filter((p) => p.severity === 'error'), []);
  const live = store.snapshot();
  // Same content; the order things arrived in differs (one list per resource against a file's order).
  const sorted = <V>(m: ReadonlyMap<string, V> | undefined) => [...m ?? []].sort(([a], [b]) => a.localeCompare(b));
  t.deepEqual(sorted(fromDump.snapshot?.workloads), sorted(live.workloads));
  t.deepEqual(sorted(fromDump.snapshot?.services), sorted(live.services));
  t.deepEqual(sorted(fromDump.snapshot?.authorizations), sorted(live.authorizations));
  t.deepEqual([...fromDump.snapshot?.ambientNamespaces ?? []].sort(), [...live.ambientNamespaces].sort());
  t.is(live.workloads.size, 2);
  const validate = await runMeshnode(['config', 'validate', '--config', join(dir, 'dump.yaml')]);
  t.is(validate.code, 0, validate.stdout + validate.stderr);
});

/** etcd's current revision, through its v3 HTTP gateway (a put returns it). */
async function etcdRevision(kube: KubeCluster): Promise<string> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const res = await fetch(`${kube.etcd}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: b64('meshnode-test/marker'), value: b64('x') }) });
  return ((await res.json()) as { header: { revision: string } }).header.revision;
}

kubeTest('kube source: a watch resuming after compaction gets 410 Gone, relists and drops what vanished', async (t) => {
  // Without the watch cache the API server answers old versions from etcd, so compaction alone expires them.
  const kube = await startKubeCluster({ watchCache: false });
  t.teardown(() => kube.close());
  await kube.apply(ambientNamespace('shop'));
  await createPod(kube, 'shop', 'keep', '10.1.1.1');
  await createPod(kube, 'shop', 'gone', '10.1.1.2');
  const running = await startKubeSource(kube);
  const { source, store } = running;
  t.teardown(() => source.close());
  t.truthy(store.workloadByIp('10.1.1.2'));
  const expiredBefore = await counter(kubeRelists, { resource: 'pods', reason: 'expired' });

  running.offline = true;
  await source.reload();
  await eventually(() => assert.equal(source.status().kube.resources.pods?.state, 'retrying'), 10_000);
  await kube.kubectl(['delete', 'pod', 'gone', '-n', 'shop', '--grace-period=0', '--force']);
  await createPod(kube, 'shop', 'new', '10.1.1.3');
  const revision = await etcdRevision(kube);
  const compacted = await fetch(`${kube.etcd}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
  t.true(compacted.ok, await compacted.text());
  // The last state keeps serving while the API is out of reach.
  t.truthy(store.workloadByIp('10.1.1.2'));

  running.offline = false;
  await eventually(() => {
    assert.equal(store.workloadByIp('10.1.1.2'), undefined);
    assert.equal(store.workloadByIp('10.1.1.3')?.name, 'new');
    assert.ok(store.workloadByIp('10.1.1.1'));
  }, 15_000);
  t.true(await counter(kubeRelists, { resource: 'pods', reason: 'expired' }) > expiredBefore);
  // The other resources were cut off too and come back on their own backoff.
  await eventually(() => assert.equal(source.status().state, 'synced'), 10_000);
});

kubeTest('kube source: an API server restart keeps the last state serving, then resumes', async (t) => {
  const kube = await startKubeCluster();
  t.teardown(() => kube.close());
  await kube.apply(ambientNamespace('shop'));
  await createPod(kube, 'shop', 'web-1', '10.1.2.1');
  const { source, store } = await startKubeSource(kube);
  t.teardown(() => source.close());

  await kube.stopApiserver();
  await eventually(() => assert.equal(source.status().state, 'error'), 15_000);
  t.truthy(store.workloadByIp('10.1.2.1'));
  t.truthy(source.status().lastError);
  await kube.startApiserver();
  await createPod(kube, 'shop', 'web-2', '10.1.2.2');
  await eventually(() => assert.ok(store.workloadByIp('10.1.2.2')), 20_000);
  await eventually(() => assert.equal(source.status().state, 'synced'), 10_000);
  t.truthy(store.workloadByIp('10.1.2.1'));
});

kubeTest('kube source: missing Istio CRDs are tolerated, and their objects are read once they are installed', async (t) => {
  const kube = await startKubeCluster({ crds: false });
  t.teardown(() => kube.close());
  await kube.apply(ambientNamespace('shop'));
  const { source, store } = await startKubeSource(kube);
  t.teardown(() => source.close());
  t.is(source.status().state, 'synced');
  t.is(source.status().kube.resources['authorizationpolicies.security.istio.io']?.state, 'missing');

  await kube.kubectl(['apply', '-f', istioCrdsFile]);
  await kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', istioCrdsFile]);
  await kube.apply(policies);
  await eventually(() => assert.equal(store.snapshot().authorizations.get('shop/only-frontend')?.action, 'Allow'), 20_000);
  t.is(source.status().kube.resources['authorizationpolicies.security.istio.io']?.apiVersion, 'security.istio.io/v1');
});

kubeTest('kube source: an invalid policy is refused; a deny-all stands in for a new one, the last good version for a changed one', async (t) => {
  const kube = await startKubeCluster();
  t.teardown(() => kube.close());
  await kube.apply(ambientNamespace('shop'));
  const { source, store } = await startKubeSource(kube);
  t.teardown(() => source.close());
  const policy = (action: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: shop}
spec: {action: ${action}, rules: [{from: [{source: {namespaces: [shop]}}]}]}
`;
  await kube.apply(policy('MAYBE'));
  await eventually(() => {
    const a = store.snapshot().authorizations.get('shop/p');
    assert.equal(a?.action, 'Deny');
    assert.equal(a?.rules.length, 1);
  }, 15_000);
  t.regex(source.status().kube.rejected[0]?.problems.join('\n') ?? '', /MAYBE/);
  t.true(source.status().kube.rejected[0]?.standIn);

  await kube.apply(policy('ALLOW'));
  await eventually(() => assert.equal(store.snapshot().authorizations.get('shop/p')?.action, 'Allow'), 15_000);
  t.deepEqual(source.status().kube.rejected, []);
  await kube.apply(policy('NOPE'));
  await eventually(() => assert.equal(source.status().kube.rejected.length, 1), 15_000);
  t.is(store.snapshot().authorizations.get('shop/p')?.action, 'Allow');
  await kube.kubectl(['delete', 'authorizationpolicy.security.istio.io', 'p', '-n', 'shop']);
  await eventually(() => assert.equal(store.snapshot().authorizations.get('shop/p'), undefined), 15_000);
});
