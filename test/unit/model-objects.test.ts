import test from 'ava';
import { docs, loadYaml, pod, validSnapshot, workloadNamed } from './model-harness.js';

test('a minimal pod gets the default namespace and service account and an istiod-style uid', (t) => {
  const snap = validSnapshot('apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n');
  const w = snap.workloads.get('Kubernetes//Pod/default/web');
  t.truthy(w);
  t.is(w?.namespace, 'default');
  t.is(w?.serviceAccount, 'default');
  t.is(w?.trustDomain, 'cluster.local');
  t.deepEqual(w?.addresses, []);
  t.is(w?.node, '');
  t.is(w?.kind, 'Pod');
});

test('a pod carries service account, node, pod uid, labels, named ports and both pod IPs', (t) => {
  const snap = validSnapshot(pod('api-0', {
    namespace: 'shop', sa: 'api', node: 'node-b', uid: '1234-abcd', labels: { app: 'api' },
    ip: '10.1.0.5', ips: ['10.1.0.5', 'fd00::5'], ports: { http: 8080, grpc: 9000 },
  }));
  const w = workloadNamed(snap, 'shop', 'api-0');
  t.is(w?.serviceAccount, 'api');
  t.is(w?.node, 'node-b');
  t.is(w?.podUid, '1234-abcd');
  t.deepEqual(w?.labels, { app: 'api' });
  t.deepEqual(w?.addresses, ['10.1.0.5', 'fd00::5']);
  t.deepEqual([...(w?.namedPorts ?? [])], [['http', 8080], ['grpc', 9000]]);
  t.is(w?.networkMode, 'Standard');
});

const canonicalCases: Array<[string, string]> = [
  ['2001:DB8:0:0::1', '2001:db8::1'],
  ['::ffff:10.1.2.3', '10.1.2.3'],
  ['::FFFF:a01:203', '10.1.2.3'],
  ['fd00:0:0:0:0:0:0:a', 'fd00::a'],
  ['10.1.2.3', '10.1.2.3'],
];
for (const [written, canonical] of canonicalCases) {
  test(`pod IP ${written} is stored as ${canonical}`, (t) => {
    const w = workloadNamed(validSnapshot(pod('p', { ip: written })), 'default', 'p');
    t.deepEqual(w?.addresses, [canonical]);
  });
}

test('podIPs repeating podIP in another spelling are not duplicated', (t) => {
  const w = workloadNamed(validSnapshot(pod('p', { ip: '10.0.0.1', ips: ['::ffff:10.0.0.1', '2001:db8::1'] })), 'default', 'p');
  t.deepEqual(w?.addresses, ['10.0.0.1', '2001:db8::1']);
});

const statusCases: Array<[string, string, 'Healthy' | 'Unhealthy' | 'absent']> = [
  ['running without conditions', 'phase: Running', 'Healthy'],
  ['Ready=True', 'phase: Running\n  conditions:\n  - type: Ready\n    status: "True"', 'Healthy'],
  ['Ready=False', 'phase: Running\n  conditions:\n  - type: Ready\n    status: "False"', 'Unhealthy'],
  ['pending', 'phase: Pending', 'Unhealthy'],
  ['succeeded (gone, its IP may be reused)', 'phase: Succeeded', 'absent'],
  ['failed', 'phase: Failed', 'absent'],
];
for (const [title, status, want] of statusCases) {
  test(`a pod that is ${title} is ${want === 'absent' ? 'not a workload' : want}`, (t) => {
    const snap = validSnapshot(`apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 10.0.0.9\n  ${status}\n`);
    const w = workloadNamed(snap, 'default', 'p');
    t.is(w ? w.status : 'absent', want);
  });
}

test('a pod being deleted (deletionTimestamp set) is Unhealthy: it drains, no new traffic goes to it', (t) => {
  const snap = validSnapshot('apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  deletionTimestamp: "2026-01-01T00:00:00Z"\nstatus:\n  podIP: 10.0.0.9\n  phase: Running\n');
  t.is(workloadNamed(snap, 'default', 'p')?.status, 'Unhealthy');
});

test('a terminated pod does not clash with the running pod that reuses its IP', (t) => {
  const { snapshot, errors } = loadYaml(docs(pod('old', { ip: '10.0.0.7', phase: 'Succeeded' }), pod('new', { ip: '10.0.0.7' })));
  t.deepEqual(errors, []);
  t.truthy(snapshot && workloadNamed(snapshot, 'default', 'new'));
});

test('host-network pods are marked and may share the node IP', (t) => {
  const snap = validSnapshot(docs(pod('a', { ip: '192.168.1.5', hostNetwork: true }), pod('b', { ip: '192.168.1.5', hostNetwork: true })));
  t.is(workloadNamed(snap, 'default', 'a')?.networkMode, 'HostNetwork');
  t.is(workloadNamed(snap, 'default', 'a')?.protocol, 'TCP');
});

test('spec.serviceAccount is used when serviceAccountName is absent', (t) => {
  const w = workloadNamed(validSnapshot('apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  serviceAccount: legacy-sa\n'), 'default', 'p');
  t.is(w?.serviceAccount, 'legacy-sa');
});

test('a Service has its cluster IPs, ports with defaults, and a hostname under the domain suffix', (t) => {
  const snap = validSnapshot(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "FD00::10"]
  ports:
  - {port: 80}
  - {name: https, port: 443, targetPort: 8443, protocol: TCP}
  - {name: dns, port: 53, targetPort: dns, protocol: UDP}
`, { trustDomain: 'cluster.local', rootNamespace: 'istio-system', domainSuffix: 'corp.internal' });
  const s = snap.services.get('shop/web.shop.svc.corp.internal');
  t.truthy(s);
  t.is(s?.kind, 'Service');
  t.deepEqual(s?.vips, ['10.96.0.10', 'fd00::10']);
  t.deepEqual(s?.ports, [
    { name: '', port: 80, targetPort: 80, protocol: 'TCP' },
    { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
    { name: 'dns', port: 53, targetPort: 'dns', protocol: 'UDP' },
  ]);
  t.deepEqual(s?.subjectAltNames, []);
});

test('a headless Service has no VIP and the default domain suffix is cluster.local', (t) => {
  const snap = validSnapshot('apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec:\n  clusterIP: None\n  ports: [{port: 5432}]\n');
  t.deepEqual(snap.services.get('default/db.default.svc.cluster.local')?.vips, []);
});

const workloadEntryVersions = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];
for (const apiVersion of workloadEntryVersions) {
  test(`a ${apiVersion} WorkloadEntry becomes a workload on the annotated node`, (t) => {
    const snap = validSnapshot(`apiVersion: ${apiVersion}
kind: WorkloadEntry
metadata:
  name: vm-1
  namespace: data
  labels: {team: storage, app: overridden}
  annotations: {meshnode.io/node: vm-host-1}
spec:
  address: "2001:DB8::50"
  serviceAccount: db
  labels: {app: postgres}
  ports: {tcp-postgres: 5432}
`);
    const w = snap.workloads.get('Kubernetes/networking.istio.io/WorkloadEntry/data/vm-1');
    t.is(w?.kind, 'WorkloadEntry');
    t.is(w?.node, 'vm-host-1');
    t.deepEqual(w?.addresses, ['2001:db8::50']);
    t.is(w?.serviceAccount, 'db');
    t.deepEqual(w?.labels, { team: 'storage', app: 'postgres' });
    t.deepEqual([...(w?.namedPorts ?? [])], [['tcp-postgres', 5432]]);
  });
}

test('a WorkloadEntry without the node annotation is kept, with a warning', (t) => {
  const { snapshot, warnings } = loadYaml('apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: vm}\nspec: {address: 10.9.9.9}\n');
  t.is(snapshot?.workloads.size, 1);
  t.is(workloadNamed(snapshot!, 'default', 'vm')?.serviceAccount, 'default');
  t.true(warnings.some((w) => w.includes('meshnode.io/node')));
});

test('a WorkloadEntry with a DNS address is skipped with a warning', (t) => {
  const { snapshot, warnings, errors } = loadYaml('apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: n}\nspec:\n  address: vm.example.com\n');
  t.deepEqual(errors, []);
  t.is(snapshot?.workloads.size, 0);
  t.true(warnings.some((w) => w.includes('spec.address') && w.includes('vm.example.com')));
});

test('a ServiceEntry becomes one service per host with single-address and CIDR VIPs', (t) => {
  const snap = validSnapshot(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: egress}
spec:
  hosts: [api.example.com, api-eu.example.com]
  addresses: [192.0.2.10, 198.51.100.0/24, "2001:db8::/64", "::ffff:192.0.2.11"]
  ports:
  - {number: 443, name: tls, protocol: TLS}
  - {number: 8080, name: http, protocol: HTTP, targetPort: 80}
  subjectAltNames: [spiffe://cluster.local/ns/egress/sa/ext]
`);
  t.deepEqual([...snap.services.keys()], ['egress/api.example.com', 'egress/api-eu.example.com']);
  const s = snap.services.get('egress/api-eu.example.com');
  t.is(s?.kind, 'ServiceEntry');
  t.is(s?.name, 'ext');
  t.deepEqual(s?.vips, ['192.0.2.10', '192.0.2.11']);
  t.deepEqual(s?.cidrVips, [{ address: '198.51.100.0', prefixLength: 24 }, { address: '2001:db8::', prefixLength: 64 }]);
  t.deepEqual(s?.ports, [
    { name: 'tls', port: 443, targetPort: 443, protocol: 'TLS' },
    { name: 'http', port: 8080, targetPort: 80, protocol: 'HTTP' },
  ]);
  t.deepEqual(s?.subjectAltNames, ['spiffe://cluster.local/ns/egress/sa/ext']);
});

test('kubectl List output is read item by item', (t) => {
  const snap = validSnapshot(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: shop}
  status: {podIP: 10.0.0.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, namespace: shop}
  status: {podIP: 10.0.0.2}
`);
  t.deepEqual([...snap.workloads.values()].map((w) => w.name), ['a', 'b']);
});

test('an error inside a List item names the item and the line inside the list', (t) => {
  const { errors } = loadYaml(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: shop}
  status:
    podIP: 10.0.0.300
`);
  t.deepEqual(errors, ['mesh.yaml:8 (document 0) Pod shop/a: error: status.podIP: "10.0.0.300" is not an IP address']);
});

test('fields Kubernetes has but meshnode does not use are ignored', (t) => {
  const { errors, warnings } = loadYaml(`apiVersion: v1
kind: Pod
metadata:
  name: p
  resourceVersion: "12"
  finalizers: [x]
spec:
  containers:
  - name: c
    image: nginx
    env: [{name: A, value: b}]
    ports: [{containerPort: 80, protocol: TCP, hostPort: 8080}]
  tolerations: [{operator: Exists}]
status:
  qosClass: BestEffort
  podIP: 10.0.0.1
`);
  t.deepEqual(errors, []);
  t.deepEqual(warnings, []);
});

const typos: Array<[string, string]> = [
  ['apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  serviceAcountName: api\n',
    'mesh.yaml:5 (document 0) Pod p: warning: spec.serviceAcountName: unknown field "serviceAcountName"; did you mean "serviceAccountName"? (ignored)'],
  ['apiVersion: v1\nkind: Pod\nmetadata: {name: p, lables: {a: b}}\n',
    'mesh.yaml:3 (document 0) Pod p: warning: metadata.lables: unknown field "lables"; did you mean "labels"? (ignored)'],
  ['apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: 80\n    targetport: 8080\n',
    'mesh.yaml:7 (document 0) Service s: warning: spec.ports[0].targetport: unknown field "targetport"; did you mean "targetPort"? (ignored)'],
  ['apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: n}\nspec:\n  address: 10.0.0.1\n  serviceaccount: db\n',
    'mesh.yaml:8 (document 0) WorkloadEntry vm: warning: spec.serviceaccount: unknown field "serviceaccount"; did you mean "serviceAccount"? (ignored)'],
  ['apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\nspec:\n  hosts: [a.example]\n  workloadSelectors: {labels: {app: a}}\n',
    'mesh.yaml:6 (document 0) ServiceEntry se: warning: spec.workloadSelectors: unknown field "workloadSelectors"; did you mean "workloadSelector"? (ignored)'],
  ['apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  someFutureField: true\n',
    'mesh.yaml:5 (document 0) Pod p: warning: spec.someFutureField: unknown field "someFutureField" (ignored)'],
];
for (const [yaml, warning] of typos) {
  test(`a field Kubernetes does not have is a warning: ${warning.split(': ')[2]}`, (t) => {
    const { snapshot, warnings } = loadYaml(yaml);
    t.truthy(snapshot);
    t.deepEqual(warnings, [warning]);
  });
}

const notWorkloadIps: [string, RegExp][] = [
  ['0.0.0.0', /is an unspecified \("this network"\) address/], ['127.0.0.1', /is a loopback address/],
  ['127.8.9.10', /is a loopback address/], ['255.255.255.255', /is the broadcast address/],
  ['224.0.0.1', /is a multicast address/], ['239.255.255.250', /is a multicast address/],
  ['::', /is the unspecified address/], ['::1', /is the loopback address/], ['ff02::1', /is a multicast address/],
  ['::ffff:127.0.0.1', /"127\.0\.0\.1" is a loopback address/],
];
for (const [ip, message] of notWorkloadIps) {
  test(`a pod or WorkloadEntry with address ${ip} is an error`, (t) => {
    const entry = `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: vm, namespace: shop, annotations: {meshnode.io/node: vm}}\nspec: {address: "${ip}"}\n`;
    const { snapshot, errors } = loadYaml(docs(pod('web', { ip, namespace: 'shop' }), entry));
    t.is(snapshot, undefined);
    t.is(errors.length, 2, errors.join('\n'));
    t.regex(errors[0]!, /Pod shop\/web: error: status\.podIP: /);
    t.regex(errors[1]!, /WorkloadEntry shop\/vm: error: spec\.address: /);
    for (const e of errors) t.regex(e, message);
  });
}

for (const cidr of ['10.0.0.0/08', 'fe80::1%eth0/64']) {
  test(`a policy ipBlock ${cidr} is an error`, (t) => {
    const { snapshot, errors } = loadYaml(`apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: shop}\n`
      + `spec: {action: DENY, rules: [{from: [{source: {ipBlocks: ["${cidr}"]}}]}]}\n`);
    t.is(snapshot, undefined);
    t.is(errors.length, 1);
    t.regex(errors[0]!, /spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks\[0\]: ".*" has (an invalid prefix length \(0-32, without leading zeros\)|a zone index)/);
  });
}
