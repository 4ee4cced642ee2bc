import test from 'ava';
import { authorize } from '../../agent/authz/index.js';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import type { Authorization, Service, Workload } from '../../agent/model/types.js';
import { IdentityRefs } from '../../agent/state/identity-refs.js';
import { StateStore } from '../../agent/state/store.js';
import type { StateChange } from '../../agent/state/types.js';
import { SETTINGS } from './model-harness.js';

function workload(name: string, ip: string, extra: Partial<Workload> = {}): Workload {
  return {
    uid: `Kubernetes//Pod/shop/${name}`, kind: 'Pod', name, namespace: 'shop', serviceAccount: name, trustDomain: 'cluster.local',
    addresses: [ip], labels: { app: name }, node: 'n1', protocol: 'HBONE', status: 'Healthy', services: new Map(),
    namedPorts: new Map(), authorizationPolicies: [], networkMode: 'Standard', ...extra,
  };
}

const service = (name: string, vip: string): Service => ({
  kind: 'Service', name, namespace: 'shop', hostname: `${name}.shop.svc.cluster.local`, vips: [vip], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], subjectAltNames: [],
});

const denyAll = (name: string): Authorization => ({
  name, namespace: 'shop', scope: 'Namespace', action: 'Deny', dryRun: false, origin: 'AuthorizationPolicy', rules: [{ clauses: [] }],
});

function recording(store: StateStore): StateChange[] {
  const changes: StateChange[] = [];
  store.subscribe((c) => changes.push(c));
  return changes;
}

test('upserts and removals keep every index current and report added, changed and removed', (t) => {
  const store = new StateStore(SETTINGS);
  const changes = recording(store);
  const svcKey = 'shop/web.shop.svc.cluster.local';
  store.apply({
    workloads: { upsert: [workload('web-0', '10.1.0.1', { services: new Map([[svcKey, new Map([[80, 8080]])]]) }), workload('db-0', '10.1.0.9', { node: 'n2' })] },
    services: { upsert: [service('web', '10.96.0.1')] },
  });
  t.is(store.workloadByIp('10.1.0.1')?.name, 'web-0');
  t.is(store.workloadByIp('::ffff:10.1.0.1')?.name, 'web-0', 'IPv4-mapped finds the IPv4 workload');
  t.is(store.serviceByVip('10.96.0.1')?.name, 'web');
  t.deepEqual(store.endpoints(svcKey).map((w) => w.name), ['web-0']);
  t.deepEqual(store.workloadsOnNode('n2').map((w) => w.name), ['db-0']);
  t.deepEqual(changes[0]!.workloads, { added: ['Kubernetes//Pod/shop/web-0', 'Kubernetes//Pod/shop/db-0'], changed: [], removed: [] });

  // web-0 moves to a new IP and leaves the service; db-0 goes.
  store.apply({ workloads: { upsert: [workload('web-0', '10.1.0.2')], remove: ['Kubernetes//Pod/shop/db-0'] } });
  t.is(store.workloadByIp('10.1.0.1'), undefined, 'the old IP no longer resolves');
  t.is(store.workloadByIp('10.1.0.2')?.name, 'web-0');
  t.deepEqual(store.endpoints(svcKey), []);
  t.deepEqual(store.workloadsOnNode('n2'), []);
  t.deepEqual(changes[1]!.workloads, { added: [], changed: ['Kubernetes//Pod/shop/web-0'], removed: ['Kubernetes//Pod/shop/db-0'] });
});

test('an upsert equal to what is stored is no change and wakes no subscriber', (t) => {
  const store = new StateStore(SETTINGS);
  const changes = recording(store);
  store.apply({ workloads: { upsert: [workload('web-0', '10.1.0.1')] } });
  store.apply({ workloads: { upsert: [workload('web-0', '10.1.0.1')] } });
  t.is(changes.length, 1);
});

test('a replace batch removes whatever it does not list', (t) => {
  const store = new StateStore(SETTINGS);
  store.apply({ workloads: { upsert: [workload('a', '10.1.0.1'), workload('b', '10.1.0.2')] }, ambientNamespaces: { upsert: ['shop'] } });
  const change = store.apply({ workloads: { upsert: [workload('b', '10.1.0.2')] }, replace: true });
  t.deepEqual(change.workloads.removed, ['Kubernetes//Pod/shop/a']);
  t.deepEqual(change.ambientNamespaces.removed, ['shop']);
  t.is(store.counts.workloads, 1);
});

test('two workloads on one IP mid-feed: the first keeps it and the other takes over when it leaves', (t) => {
  const store = new StateStore(SETTINGS);
  store.apply({ workloads: { upsert: [workload('old', '10.1.0.1')] } });
  store.apply({ workloads: { upsert: [workload('new', '10.1.0.1')] } });
  t.is(store.workloadByIp('10.1.0.1')?.name, 'old');
  store.apply({ workloads: { remove: ['Kubernetes//Pod/shop/old'] } });
  t.is(store.workloadByIp('10.1.0.1')?.name, 'new');
});

test('policies are compiled per policy: a decision sees a policy as soon as it is upserted and not after it is removed', (t) => {
  const store = new StateStore(SETTINGS);
  store.apply({ workloads: { upsert: [workload('web-0', '10.1.0.1')] } });
  const w = store.workloadByName('shop', 'web-0')!;
  const conn = { identity: 'spiffe://cluster.local/ns/shop/sa/x', srcIp: '10.1.0.5', dstIp: '10.1.0.1', dstPort: 8080 };
  t.true(authorize(store.policies, w, conn).allowed);
  store.apply({ authorizations: { upsert: [denyAll('deny-all')] } });
  t.like(authorize(store.policies, w, conn), { allowed: false, policy: 'shop/deny-all' });
  store.apply({ authorizations: { remove: ['shop/deny-all'] } });
  t.true(authorize(store.policies, w, conn).allowed);
});

test('a failing subscriber does not keep the others from hearing of a change', (t) => {
  const store = new StateStore(SETTINGS);
  store.subscribe(() => { throw new Error('boom'); });
  const changes = recording(store);
  store.apply({ ambientNamespaces: { upsert: ['shop'] } });
  t.is(changes.length, 1);
});

test('identities are wanted from their first holder to their last, and the set is reported once per batch', (t) => {
  const reports: string[][] = [];
  const refs = new IdentityRefs((wanted) => reports.push([...wanted].sort()));
  const web = 'spiffe://cluster.local/ns/shop/sa/web' as SpiffeId;
  const db = 'spiffe://cluster.local/ns/shop/sa/db' as SpiffeId;
  refs.batch(() => { refs.hold('workload:a', web); refs.hold('pod:a', web); refs.hold('workload:b', db); });
  t.deepEqual(reports, [[db, web]]);
  t.is(refs.holders(web), 2);
  refs.hold('workload:a', undefined);
  t.is(reports.length, 1, 'web still has a holder: nothing to report');
  refs.hold('pod:a', undefined);
  t.deepEqual(reports.at(-1), [db]);
  refs.hold('workload:b', web);
  t.deepEqual(reports.at(-1), [web], 'a holder switching identity releases the old one');
  refs.releaseOthers('workload:', new Set());
  t.deepEqual(reports.at(-1), []);
});

test('a copy fed the replication batches through a structured clone (a worker thread) answers every lookup as the store does', (t) => {
  const store = new StateStore(SETTINGS);
  store.apply({ workloads: { upsert: [workload('a', '10.0.0.1'), workload('b', '10.0.0.2')] }, services: { upsert: [service('web', '10.96.0.1')] } });
  const copy = new StateStore(SETTINGS);
  copy.apply(structuredClone(store.replicationBatch()));
  store.subscribe((change) => copy.apply(structuredClone(store.replicationBatch(change))));
  store.apply({
    workloads: { upsert: [workload('b', '10.0.0.9'), workload('c', '10.0.0.3')], remove: ['Kubernetes//Pod/shop/a'] },
    services: { remove: ['shop/web.shop.svc.cluster.local'] },
    authorizations: { upsert: [denyAll('deny')] },
    ambientNamespaces: { upsert: ['shop'] },
  });
  t.deepEqual(copy.snapshot(), store.snapshot());
  t.is(copy.workloadByIp('10.0.0.9')?.name, 'b');
  t.is(copy.workloadByIp('10.0.0.1'), undefined);
  t.is(copy.serviceByVip('10.96.0.1'), undefined);
  const c = copy.workloadByName('shop', 'c')!;
  t.false(authorize(copy.policies, c, { identity: 'spiffe://cluster.local/ns/shop/sa/b', srcIp: '10.0.0.9', dstIp: '10.0.0.3', dstPort: 80 }).allowed);
  // A copy that lost its baseline is brought back whole by the replace batch.
  const late = new StateStore(SETTINGS);
  late.apply({ workloads: { upsert: [workload('stale', '10.0.0.7')] } });
  late.apply(structuredClone(store.replicationBatch()));
  t.deepEqual(late.snapshot(), store.snapshot());
});
