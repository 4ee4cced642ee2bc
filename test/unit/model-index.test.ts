import test from 'ava';
import { StateStore } from '../../agent/state/store.js';
import { docs, pod, service, validIndex, validSnapshot } from './model-harness.js';

const MESH = docs(
  pod('web-1', { namespace: 'shop', ip: '10.0.0.1', ips: ['10.0.0.1', 'fd00::1'], node: 'node-a', sa: 'web', labels: { app: 'web' }, ports: { http: 8080 } }),
  pod('web-2', { namespace: 'shop', ip: '10.0.0.2', node: 'node-b', sa: 'web', labels: { app: 'web' }, ports: { http: 8080 } }),
  pod('db', { namespace: 'shop', ip: '10.0.0.3', node: 'node-b' }),
  pod('agent', { namespace: 'kube-system', ip: '192.168.0.10', node: 'node-a', hostNetwork: true }),
  service('web', { namespace: 'shop', clusterIP: '10.96.0.1', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] }),
  'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: db\n  namespace: shop\n  annotations: {meshnode.io/node: vm-1}\nspec: {address: 10.0.9.9, serviceAccount: db}\n',
  'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: shop}\nspec:\n  hosts: [ext.example]\n  addresses: ["2001:db8:1::/48", 203.0.113.7]\n',
);
const index = validIndex(MESH);

const byIp: Array<[string, string | undefined]> = [
  ['10.0.0.1', 'web-1'],
  ['fd00::1', 'web-1'],
  ['FD00:0::1', 'web-1'],
  ['::ffff:10.0.0.2', 'web-2'],
  ['10.0.9.9', 'db'],
  ['10.0.0.99', undefined],
  ['192.168.0.10', undefined],
  ['not-an-ip', undefined],
];
for (const [ip, name] of byIp) {
  test(`workloadByIp(${ip}) finds ${name ?? 'nothing'}`, (t) => {
    t.is(index.workloadByIp(ip)?.name, name);
  });
}

test('workloadByUid finds pods and workload entries by their istiod uids', (t) => {
  t.is(index.workloadByUid('Kubernetes//Pod/shop/web-2')?.name, 'web-2');
  t.is(index.workloadByUid('Kubernetes/networking.istio.io/WorkloadEntry/shop/db')?.kind, 'WorkloadEntry');
  t.is(index.workloadByUid('Kubernetes//Pod/shop/nope'), undefined);
});

test('workloadByName prefers the Pod when a WorkloadEntry has the same name', (t) => {
  t.is(index.workloadByName('shop', 'db')?.kind, 'Pod');
  t.is(index.workloadByName('shop', 'web-1')?.name, 'web-1');
  t.is(index.workloadByName('other', 'web-1'), undefined);
});

const byVip: Array<[string, string | undefined]> = [
  ['10.96.0.1', 'shop/web.shop.svc.cluster.local'],
  ['::ffff:10.96.0.1', 'shop/web.shop.svc.cluster.local'],
  ['203.0.113.7', 'shop/ext.example'],
  ['2001:db8:1:ffff::5', 'shop/ext.example'],
  ['2001:db8:2::5', undefined],
  ['10.96.0.2', undefined],
];
for (const [ip, key] of byVip) {
  test(`serviceByVip(${ip}) finds ${key ?? 'nothing'}`, (t) => {
    const s = index.serviceByVip(ip);
    t.is(s && `${s.namespace}/${s.hostname}`, key);
  });
}

test('service(key) and endpoints(key) give the service and the workloads backing it', (t) => {
  t.is(index.service('shop/web.shop.svc.cluster.local')?.name, 'web');
  t.deepEqual(index.endpoints('shop/web.shop.svc.cluster.local').map((w) => w.name), ['web-1', 'web-2']);
  t.deepEqual(index.endpoints('shop/ext.example'), []);
  t.deepEqual(index.endpoints('shop/none'), []);
});

test('workloadsOnNode lists every workload of a node, host-network pods included', (t) => {
  t.deepEqual(index.workloadsOnNode('node-a').map((w) => w.name), ['web-1', 'agent']);
  t.deepEqual(index.workloadsOnNode('node-b').map((w) => w.name), ['web-2', 'db']);
  t.deepEqual(index.workloadsOnNode('vm-1').map((w) => w.kind), ['WorkloadEntry']);
  t.deepEqual(index.workloadsOnNode('node-z'), []);
});

test('identityOf is the SPIFFE id in the configured trust domain', (t) => {
  const custom = StateStore.fromSnapshot(validSnapshot(MESH, { trustDomain: 'prod.example', rootNamespace: 'istio-system' }));
  const ids: string[] = [
    index.identityOf(index.workloadByName('shop', 'web-1')!),
    custom.identityOf(custom.workloadByName('shop', 'db')!),
    custom.identityOf(custom.workloadByUid('Kubernetes/networking.istio.io/WorkloadEntry/shop/db')!),
  ];
  t.deepEqual(ids, ['spiffe://cluster.local/ns/shop/sa/web', 'spiffe://prod.example/ns/shop/sa/default', 'spiffe://prod.example/ns/shop/sa/db']);
});

test('the index keeps the snapshot it was built from', (t) => {
  t.is(index.snapshot().workloads.size, 5);
  t.is(index.snapshot().services.size, 2);
});
