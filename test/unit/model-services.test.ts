import test from 'ava';
import type { MeshSnapshot } from '../../agent/model/types.js';
import { docs, loadYaml, pod, service, validSnapshot, workloadNamed } from './model-harness.js';

function portsOf(snap: MeshSnapshot, ns: string, name: string, key: string): Array<[number, number]> | undefined {
  const ports = workloadNamed(snap, ns, name)?.services.get(key);
  return ports && [...ports];
}

const WEB = 'default/web.default.svc.cluster.local';

test('a named targetPort is resolved per pod from its container ports', (t) => {
  const snap = validSnapshot(docs(
    service('web', { clusterIP: '10.96.0.1', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
    pod('web-v1', { ip: '10.0.0.1', labels: { app: 'web' }, ports: { http: 8080 } }),
    pod('web-v2', { ip: '10.0.0.2', labels: { app: 'web' }, ports: { http: 9080 } }),
  ));
  t.deepEqual(portsOf(snap, 'default', 'web-v1', WEB), [[80, 8080]]);
  t.deepEqual(portsOf(snap, 'default', 'web-v2', WEB), [[80, 9080]]);
});

test('a named targetPort a pod lacks is left out for that pod, with a warning naming both', (t) => {
  const { snapshot, warnings } = loadYaml(docs(
    service('web', { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }, { port: 81, targetPort: 8081 }] }),
    pod('web-1', { ip: '10.0.0.1', labels: { app: 'web' }, ports: { web: 8080 } }),
  ));
  t.deepEqual(portsOf(snapshot!, 'default', 'web-1', WEB), [[81, 8081]]);
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /Service default\/web: warning: spec\.ports: port 80: targetPort "http" is not a named port of Pod default\/web-1/);
});

test('a pod none of whose ports resolve is not an endpoint', (t) => {
  const snap = loadYaml(docs(
    service('web', { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] }),
    pod('web-1', { ip: '10.0.0.1', labels: { app: 'web' } }),
  )).snapshot!;
  t.is(workloadNamed(snap, 'default', 'web-1')?.services.size, 0);
});

const selectorCases: Array<[string, Record<string, string> | undefined, Record<string, string>, string, boolean]> = [
  ['matching labels', { app: 'web' }, { app: 'web', version: 'v1' }, 'default', true],
  ['a missing label', { app: 'web', tier: 'fe' }, { app: 'web' }, 'default', false],
  ['a different value', { app: 'web' }, { app: 'api' }, 'default', false],
  ['another namespace', { app: 'web' }, { app: 'web' }, 'other', false],
  ['no selector', undefined, { app: 'web' }, 'default', false],
  ['an empty selector', {}, { app: 'web' }, 'default', false],
];
for (const [title, selector, labels, ns, want] of selectorCases) {
  test(`a Service selector with ${title} ${want ? 'selects' : 'does not select'} the pod`, (t) => {
    const snap = validSnapshot(docs(
      service('web', { ...(selector ? { selector } : {}), ports: [{ port: 80, targetPort: 8080 }] }),
      pod('p', { namespace: ns, ip: '10.0.0.1', labels }),
    ));
    t.is(workloadNamed(snap, ns, 'p')?.services.has(WEB), want);
  });
}

test('a Service selects WorkloadEntries too, resolving named targetPorts in their ports', (t) => {
  const snap = validSnapshot(docs(
    service('db', { selector: { app: 'db' }, ports: [{ port: 5432, targetPort: 'pg' }, { port: 9187, targetPort: 9187 }] }),
    'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: vm}\nspec:\n  address: 10.5.0.1\n  labels: {app: db}\n  ports: {pg: 15432}\n',
  ));
  t.deepEqual(portsOf(snap, 'default', 'vm', 'default/db.default.svc.cluster.local'), [[5432, 15432], [9187, 9187]]);
});

const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ledger}
spec:
  hosts: [ledger.internal]
  addresses: [240.0.0.1]
  ports:
  - {number: 5432, name: tcp-pg, targetPort: 6432}
  - {number: 9000, name: admin}
  workloadSelector:
    labels: {app: ledger}
`;

test('a ServiceEntry matches WorkloadEntry ports by name, else uses targetPort or the port', (t) => {
  const snap = validSnapshot(docs(SERVICE_ENTRY,
    'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: vm}\nspec:\n  address: 10.5.0.1\n  labels: {app: ledger}\n  ports: {tcp-pg: 7432}\n',
  ));
  t.deepEqual(portsOf(snap, 'default', 'vm', 'default/ledger.internal'), [[5432, 7432], [9000, 9000]]);
});

test('a ServiceEntry selecting a pod uses its numeric targetPort', (t) => {
  const snap = validSnapshot(docs(SERVICE_ENTRY, pod('ledger-0', { ip: '10.0.0.3', labels: { app: 'ledger' }, ports: { 'tcp-pg': 5000 } })));
  t.deepEqual(portsOf(snap, 'default', 'ledger-0', 'default/ledger.internal'), [[5432, 6432], [9000, 9000]]);
});

test('a workload backs every service that selects it', (t) => {
  const snap = validSnapshot(docs(
    service('a', { selector: { app: 'x' }, ports: [{ port: 1, targetPort: 10 }] }),
    service('b', { selector: { app: 'x' }, ports: [{ port: 2, targetPort: 20 }] }),
    pod('p', { ip: '10.0.0.1', labels: { app: 'x' } }),
  ));
  t.deepEqual([...workloadNamed(snap, 'default', 'p')!.services.keys()], ['default/a.default.svc.cluster.local', 'default/b.default.svc.cluster.local']);
});
