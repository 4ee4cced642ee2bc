import test from 'ava';
import { telemetryNames } from '../../agent/model/telemetry.js';
import type { Workload } from '../../agent/model/types.js';
import { ADDRESS_TYPE, type OutgoingPayload } from '../../agent/sources/xds/api.js';
import { decodedResponse } from '../helpers/xds-fixtures.js';
import { HeldResources } from '../../agent/sources/xds/resources.js';

/** Telemetry names as istiod derives them from a pod's name and labels. */
function pod(name: string, labels: Record<string, string>, kind: Workload['kind'] = 'Pod'): Workload {
  return {
    uid: `Kubernetes//${kind}/shop/${name}`, kind, name, namespace: 'shop', serviceAccount: 'default', trustDomain: 'cluster.local',
    addresses: [], labels, node: 'n1', protocol: 'HBONE', status: 'Healthy', services: new Map(), namedPorts: new Map(), authorizationPolicies: [],
  };
}

test('canonical service: canonical-name, else app.kubernetes.io/name, else app, else the workload name', (t) => {
  const names = (labels: Record<string, string>) => telemetryNames(pod('web-0', labels)).canonicalName;
  t.is(names({ 'service.istio.io/canonical-name': 'shop-web', 'app.kubernetes.io/name': 'x', app: 'y' }), 'shop-web');
  t.is(names({ 'app.kubernetes.io/name': 'x', app: 'y' }), 'x');
  t.is(names({ app: 'y' }), 'y');
  t.is(names({ app: '' }), 'web-0', 'an empty label counts as absent');
  t.is(names({}), 'web-0');
});

test('canonical revision: canonical-revision, else app.kubernetes.io/version, else version, else latest', (t) => {
  const rev = (labels: Record<string, string>) => telemetryNames(pod('web-0', labels)).canonicalRevision;
  t.is(rev({ 'service.istio.io/canonical-revision': 'r3', 'app.kubernetes.io/version': 'v2', version: 'v1' }), 'r3');
  t.is(rev({ 'app.kubernetes.io/version': 'v2', version: 'v1' }), 'v2');
  t.is(rev({ version: 'v1' }), 'v1');
  t.is(rev({}), 'latest');
});

test('workload name: the explicit label, else the Deployment, StatefulSet or CronJob the pod belongs to, else its own name', (t) => {
  const wl = (name: string, labels: Record<string, string>, kind: Workload['kind'] = 'Pod') => telemetryNames(pod(name, labels, kind)).workloadName;
  t.is(wl('web-0', { 'service.istio.io/workload-name': 'frontend' }), 'frontend');
  t.is(wl('web-6d4cf56db6-x2k9p', { 'pod-template-hash': '6d4cf56db6' }), 'web');
  t.is(wl('my-web-app-6d4cf56db6-x2k9p', { 'pod-template-hash': '6d4cf56db6' }), 'my-web-app');
  t.is(wl('db-2', { 'statefulset.kubernetes.io/pod-name': 'db-2' }), 'db');
  t.is(wl('backup-28890120-abcde', { 'batch.kubernetes.io/job-name': 'backup-28890120' }), 'backup', 'a CronJob job drops its schedule suffix');
  t.is(wl('migrate-xk2p9', { 'job-name': 'migrate' }), 'migrate');
  t.is(wl('web-0', {}), 'web-0');
  t.is(wl('vm-1', { 'pod-template-hash': 'abc' }, 'WorkloadEntry'), 'vm-1', 'only pods have controllers');
});

test('the cluster is the first segment of the uid; names istiod sent over xDS win', (t) => {
  t.is(telemetryNames(pod('web-0', {})).cluster, 'Kubernetes');
  const held = new HeldResources();
  const uid = 'Kubernetes//Pod/shop/web-0';
  const out = held.translate(decodedResponse({ type_url: ADDRESS_TYPE, resources: [{
    name: uid, version: 'v1',
    resource: { '@type': ADDRESS_TYPE, workload: {
      uid, name: 'web-0', namespace: 'shop', addresses: [Buffer.from([10, 0, 0, 9])], tunnel_protocol: 'HBONE',
      canonical_name: 'web', canonical_revision: 'v7', workload_name: 'web-deploy', cluster_id: 'east',
    } } as OutgoingPayload,
  }] }));
  t.deepEqual(out.rejected, []);
  const w = out.batch.workloads!.upsert![0]!;
  t.deepEqual(telemetryNames(w), { workloadName: 'web-deploy', canonicalName: 'web', canonicalRevision: 'v7', cluster: 'east' });
});
