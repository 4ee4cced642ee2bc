import test from 'ava';
import { docs, loadYaml, pod, service } from './model-harness.js';

/** Each case: a config with exactly one problem, and the formatted problem expected. */
const single: Array<[title: string, yaml: string, problem: string]> = [
  ['a YAML syntax error reports the line of the error',
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n labels: x\n',
    'mesh.yaml:5 (document 0): error: YAML syntax: All mapping items must start at the same column'],
  ['a key given twice is a YAML error at the second one',
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  nodeName: a\n  nodeName: b\n',
    'mesh.yaml:7 (document 0): error: YAML syntax: Map keys must be unique'],
  ['a missing metadata.name is an error',
    'apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: shop\nspec: {}\n',
    'mesh.yaml:4 (document 0) Pod shop/<unnamed>: error: metadata.name: is required'],
  ['a missing kind is an error',
    'apiVersion: v1\nmetadata: {name: x}\n',
    'mesh.yaml:1 (document 0): error: kind: is required'],
  ['an invalid object name is an error',
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: Web_1\n',
    'mesh.yaml:4 (document 0) Pod Web_1: error: metadata.name: "Web_1" is not a valid name'],
  ['a service account that is not a valid name is an error',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  serviceAccountName: Web/Admin\n',
    'mesh.yaml:5 (document 0) Pod p: error: spec.serviceAccountName: "Web/Admin" is not a valid service account name'],
  ['a wrongly typed nodeName is an error',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: 5\n',
    'mesh.yaml:5 (document 0) Pod p: error: spec.nodeName: must be a string, got number 5'],
  ['a bad pod IP is an error with its path',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus:\n  podIPs:\n  - ip: 10.0.0.1\n  - ip: 10.0.0.x\n',
    'mesh.yaml:7 (document 0) Pod p: error: status.podIPs[1].ip: "10.0.0.x" is not an IP address'],
  ['a non-string label value is an error',
    'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    version: 2\n',
    'mesh.yaml:6 (document 0) Pod p: error: metadata.labels.version: must be a string, got number 2 (quote it)'],
  ['a quoted numeric targetPort is an error',
    'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: 80\n    targetPort: "8080"\n',
    'mesh.yaml:7 (document 0) Service s: error: spec.ports[0].targetPort: "8080" is a number in quotes'],
  ['an out-of-range port is an error',
    'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: 70000\n',
    'mesh.yaml:6 (document 0) Service s: error: spec.ports[0].port: must be a port number 1-65535, got number 70000'],
  ['a Service port without a number is an error',
    'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - name: http\n',
    'mesh.yaml:6 (document 0) Service s: error: spec.ports[0].port: is required'],
  ['clusterIPs disagreeing with clusterIP is an error',
    'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  clusterIP: 10.0.0.1\n  clusterIPs: [10.0.0.2]\n',
    'mesh.yaml:6 (document 0) Service s: error: spec.clusterIPs: first entry "10.0.0.2" must equal spec.clusterIP "10.0.0.1"'],
  ['a ServiceEntry without hosts is an error',
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\nspec:\n  ports: [{number: 80, name: http}]\n',
    'mesh.yaml:5 (document 0) ServiceEntry se: error: spec.hosts: at least one host is required'],
  ['a bad ServiceEntry CIDR is an error',
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\nspec:\n  hosts: [a.example]\n  addresses: [10.0.0.0/33]\n',
    'mesh.yaml:6 (document 0) ServiceEntry se: error: spec.addresses[0]: "10.0.0.0/33" has an invalid prefix length'],
  ['a WorkloadEntry without an address is an error',
    'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: n}\nspec:\n  serviceAccount: x\n',
    'mesh.yaml:7 (document 0) WorkloadEntry vm: error: spec.address: is required'],
  ['a WorkloadEntry port that is not a number is an error',
    'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: n}\nspec:\n  address: 10.0.0.1\n  ports:\n    http: eighty\n',
    'mesh.yaml:9 (document 0) WorkloadEntry vm: error: spec.ports.http: must be a port number 1-65535, got string "eighty"'],
  ['a container port name used twice is an error',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    ports: [{name: http, containerPort: 80}]\n  - name: b\n    ports:\n    - name: http\n      containerPort: 81\n',
    'mesh.yaml:10 (document 0) Pod p: error: spec.containers[1].ports[0].name: port name "http" is already used by spec.containers[0].ports[0]'],
  ['a misspelt field in an AuthorizationPolicy is an error (CVE-2022-21679)',
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ap, namespace: shop}\nspec:\n  action: DENY\n  rules:\n  - to:\n    - operation:\n        notport: ["22"]\n',
    'mesh.yaml:9 (document 0) AuthorizationPolicy shop/ap: error: spec.rules[0].to[0].operation.notport: unknown field "notport"'],
];
for (const [title, yaml, problem] of single) {
  test(title, (t) => {
    const { snapshot, errors } = loadYaml(yaml);
    t.is(snapshot, undefined, 'no snapshot when there is an error');
    t.true(errors[0]!.startsWith(problem), `${errors[0]}\n  does not start with\n${problem}`);
    t.is(errors.length, 1, errors.join('\n'));
  });
}

test('every problem of a file is reported at once, in document order', (t) => {
  const { snapshot, errors } = loadYaml(docs(
    'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nstatus: {podIP: 10.0.0.256}\n',
    'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 0}]\n',
    'apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\n',
    'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: n}\nspec: {address: "10.1.1"}\n',
  ));
  t.is(snapshot, undefined);
  t.deepEqual(errors.map((e) => e.replace(/: [^:]*$/, '')), [
    'mesh.yaml:4 (document 0) Pod a: error: status.podIP',
    'mesh.yaml:10 (document 1) Service s: error: spec.ports[0].port',
    'mesh.yaml:14 (document 2) Pod x/<unnamed>: error: metadata.name',
    'mesh.yaml:21 (document 3) WorkloadEntry vm: error: spec.address',
  ]);
});

test('a duplicate object is an error naming both places', (t) => {
  const { errors } = loadYaml(docs(pod('p', { ip: '10.0.0.1' }), pod('q', { ip: '10.0.0.2' }), pod('p', { ip: '10.0.0.3' })));
  t.is(errors.length, 1);
  t.regex(errors[0]!, /^mesh\.yaml:\d+ \(document 2\) Pod default\/p: error: metadata\.name: duplicate Pod default\/p: also defined at mesh\.yaml:1 \(document 0\)$/);
});

test('a Pod and a WorkloadEntry may share a name', (t) => {
  const { errors } = loadYaml(docs(pod('x', { ip: '10.0.0.1' }),
    'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: x\n  annotations: {meshnode.io/node: n}\nspec: {address: 10.0.0.2}\n'));
  t.deepEqual(errors, []);
});

test('two workloads with one IP is an error naming the other', (t) => {
  const { errors } = loadYaml(docs(pod('a', { ip: '10.0.0.1' }), pod('b', { ip: '::ffff:10.0.0.1' })));
  t.is(errors.length, 1);
  t.regex(errors[0]!, /Pod default\/b: error: status: address 10\.0\.0\.1 is also used by Pod default\/a at mesh\.yaml:1 \(document 0\)/);
});

test('two services with one VIP is an error', (t) => {
  const { errors } = loadYaml(docs(service('a', { clusterIP: '10.96.0.1' }), service('b', { clusterIP: '10.96.0.1' })));
  t.is(errors.length, 1);
  t.regex(errors[0]!, /Service default\/b: error: spec\.clusterIP: address 10\.96\.0\.1 is also a VIP of Service default\/a/);
});

test('a ServiceEntry host that is also a Service hostname is an error', (t) => {
  const { errors } = loadYaml(docs(service('web'),
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web-se}\nspec:\n  hosts: [web.default.svc.cluster.local]\n'));
  t.is(errors.length, 1);
  t.regex(errors[0]!, /ServiceEntry web-se: error: spec\.hosts: service default\/web\.default\.svc\.cluster\.local is also defined by Service default\/web/);
});

test('an unknown kind is skipped with a warning and the config stays valid', (t) => {
  const { snapshot, warnings, errors } = loadYaml(docs(
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 2}\n',
    'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\n',
    pod('p', { ip: '10.0.0.1' }),
  ));
  t.deepEqual(errors, []);
  t.is(snapshot?.workloads.size, 1);
  t.deepEqual(warnings, [
    'mesh.yaml:1 (document 0) Deployment d: warning: apps/v1 Deployment is not a kind meshnode reads; skipped',
    'mesh.yaml:6 (document 1) VirtualService vs: warning: networking.istio.io/v1 VirtualService is not a kind meshnode reads; skipped',
  ]);
});

test('a known kind at an unknown apiVersion is skipped with a warning', (t) => {
  const { warnings } = loadYaml('apiVersion: v2\nkind: Pod\nmetadata: {name: p}\n');
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /v2 Pod is not a kind meshnode reads/);
});

test('a document that is not a mapping is an error; empty documents are fine', (t) => {
  const { errors } = loadYaml('---\n# nothing here\n---\n- a\n- b\n---\n');
  t.is(errors.length, 1);
  t.regex(errors[0]!, /document is not a mapping/);
});

test('warnings alone still give a snapshot', (t) => {
  const { snapshot, warnings } = loadYaml('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
  t.is(warnings.length, 1);
  t.truthy(snapshot);
});
