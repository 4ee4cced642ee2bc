import test from 'ava';
import { Problems } from '../../agent/config/problems.js';
import { parseFile } from '../../agent/config/documents.js';
import { buildMeshSnapshot } from '../../agent/model/load.js';
import { StateStore } from '../../agent/state/store.js';
import { resolveOutbound } from '../../agent/proxy/destination.js';

const YAML = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec: {nodeName: n1, serviceAccountName: web}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {nodeName: n2, serviceAccountName: web}
status: {podIP: 10.0.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: old-0, namespace: legacy, labels: {app: old}}
spec: {nodeName: n1, serviceAccountName: old}
status: {podIP: 10.0.0.9}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`;

function mesh(): StateStore {
  const problems = new Problems();
  const docs = parseFile('mesh.yaml', YAML, problems);
  const snapshot = buildMeshSnapshot(docs, { trustDomain: 'cluster.local', rootNamespace: 'istio-system' }, problems);
  if (!snapshot) throw new Error('invalid test config');
  return StateStore.fromSnapshot(snapshot);
}

test('a service VIP resolves to an endpoint with the port mapped to the target port, over HBONE', (t) => {
  const picks = new Set<string>();
  for (const r of [0, 0.99]) {
    const target = resolveOutbound(mesh(), { ip: '10.96.0.10', port: 80 }, () => r);
    if (target.kind !== 'hbone') return t.fail(`got ${target.kind}`);
    t.is(target.address.port, 8080);
    t.is(target.service?.hostname, 'web.shop.svc.cluster.local');
    t.deepEqual(target.expected, ['spiffe://cluster.local/ns/shop/sa/web']);
    picks.add(target.address.ip);
  }
  t.deepEqual([...picks].sort(), ['10.0.0.2', '10.0.0.3']);
});

test('a pod IP of an enrolled workload goes over HBONE to that pod, port unchanged', (t) => {
  const target = resolveOutbound(mesh(), { ip: '10.0.0.3', port: 9000 });
  t.is(target.kind, 'hbone');
  t.deepEqual(target.kind === 'hbone' ? target.address : undefined, { ip: '10.0.0.3', port: 9000 });
});

test('a workload outside the mesh and an unknown address are plain passthrough', (t) => {
  t.is(resolveOutbound(mesh(), { ip: '10.0.0.9', port: 80 }).kind, 'passthrough');
  t.is(resolveOutbound(mesh(), { ip: '192.0.2.1', port: 443 }).kind, 'passthrough');
});

test('a service port the service does not define is refused', (t) => {
  const target = resolveOutbound(mesh(), { ip: '10.96.0.10', port: 81 });
  t.is(target.kind === 'refused' ? target.reason : target.kind, 'no-healthy-upstream');
});

for (const port of [15001, 15006, 15008]) {
  test(`a destination on data-plane port ${port} is refused as a loop`, (t) => {
    const target = resolveOutbound(mesh(), { ip: '10.0.0.3', port });
    t.is(target.kind === 'refused' ? target.reason : target.kind, 'loop');
  });
}
