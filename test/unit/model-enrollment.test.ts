import test from 'ava';
import { docs, loadYaml, namespace, pod, validIndex, validSnapshot, workloadNamed } from './model-harness.js';

type Case = [title: string, nsLabel: string | undefined, podLabel: string | undefined, hostNetwork: boolean, enrolled: boolean, reason: RegExp];
const cases: Case[] = [
  ['ambient namespace, no pod label', 'ambient', undefined, false, true, /namespace shop has label istio.io\/dataplane-mode=ambient/],
  ['ambient namespace, pod opts out', 'ambient', 'none', false, false, /Pod label istio.io\/dataplane-mode=none opts it out/],
  ['plain namespace, pod opts in', undefined, 'ambient', false, true, /Pod label istio.io\/dataplane-mode=ambient/],
  ['plain namespace, no label', undefined, undefined, false, false, /neither namespace shop nor the Pod/],
  ['namespace label none, no pod label', 'none', undefined, false, false, /neither namespace/],
  ['namespace label none, pod opts in', 'none', 'ambient', false, true, /Pod label/],
  ['ambient namespace, host-network pod', 'ambient', undefined, true, false, /host-network/],
  ['host-network pod opting in', undefined, 'ambient', true, false, /host-network/],
];
for (const [title, nsLabel, podLabel, hostNetwork, enrolled, reason] of cases) {
  test(`enrolment: ${title} → ${enrolled ? 'HBONE' : 'not enrolled'}`, (t) => {
    const index = validIndex(docs(
      namespace('shop', nsLabel ? { 'istio.io/dataplane-mode': nsLabel } : {}),
      pod('p', { namespace: 'shop', ip: '10.0.0.1', hostNetwork, labels: podLabel ? { 'istio.io/dataplane-mode': podLabel } : {} }),
    ));
    const answer = index.podEnrollment('shop', 'p');
    t.is(answer.enrolled, enrolled);
    t.regex(answer.reason, reason);
    t.is(answer.workload?.protocol, enrolled ? 'HBONE' : 'TCP');
    t.is(index.snapshot().ambientNamespaces.has('shop'), nsLabel === 'ambient');
  });
}

test('a pod in a namespace that has no Namespace object is enrolled only by its own label', (t) => {
  const snap = validSnapshot(docs(pod('a', { namespace: 'x', ip: '10.0.0.1' }), pod('b', { namespace: 'x', ip: '10.0.0.2', labels: { 'istio.io/dataplane-mode': 'ambient' } })));
  t.is(workloadNamed(snap, 'x', 'a')?.protocol, 'TCP');
  t.is(workloadNamed(snap, 'x', 'b')?.protocol, 'HBONE');
});

// The CNI plugin can ask before the config lists a new pod: an ambient namespace captures it.
type UnlistedCase = [title: string, namespace: string, enrolled: boolean, reason: RegExp];
const unlistedCases: UnlistedCase[] = [
  ['in an ambient namespace is enrolled without a workload record', 'shop', true, /^namespace shop is ambient; pod ghost is not yet in the mesh config$/],
  ['in a namespace the config knows, not ambient, is not enrolled', 'legacy', false, /pod legacy\/ghost is not in the mesh config and namespace legacy is not ambient/],
  ['in a namespace the config does not know is not enrolled', 'nowhere', false, /pod nowhere\/ghost is not in the mesh config and namespace nowhere is not ambient/],
];
for (const [title, ns, enrolled, reason] of unlistedCases) {
  test(`a pod not in the config ${title}`, (t) => {
    const index = validIndex(docs(
      namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }),
      namespace('legacy', {}),
      pod('p', { namespace: 'shop', ip: '10.0.0.1' }),
    ));
    const answer = index.podEnrollment(ns, 'ghost');
    t.is(answer.enrolled, enrolled);
    t.is(answer.workload, undefined);
    t.regex(answer.reason, reason);
  });
}

test('a pod the config lists with dataplane-mode none stays out of an ambient namespace', (t) => {
  const index = validIndex(docs(
    namespace('shop', { 'istio.io/dataplane-mode': 'ambient' }),
    pod('ghost', { namespace: 'shop', ip: '10.0.0.1', labels: { 'istio.io/dataplane-mode': 'none' } }),
  ));
  const answer = index.podEnrollment('shop', 'ghost');
  t.false(answer.enrolled);
  t.is(answer.workload?.name, 'ghost');
});

test('a WorkloadEntry of the pod\'s name in an ambient namespace does not stand in for the pod', (t) => {
  const index = validIndex(docs(
    namespace('vms', { 'istio.io/dataplane-mode': 'ambient' }),
    'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  namespace: vms\n  annotations: {meshnode.io/node: n}\nspec: {address: 10.0.0.1}\n',
  ));
  const answer = index.podEnrollment('vms', 'vm');
  t.true(answer.enrolled);
  t.is(answer.workload, undefined, 'no Pod record: its traffic is refused until the config lists it');
});

test('podEnrollment does not answer for a WorkloadEntry of the same name', (t) => {
  const index = validIndex('apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  annotations: {meshnode.io/node: n}\nspec: {address: 10.0.0.1}\n');
  t.false(index.podEnrollment('default', 'vm').enrolled);
});

const entryCases: Array<[string, string, string, 'HBONE' | 'TCP']> = [
  ['in an ambient namespace', 'ambient', '{}', 'HBONE'],
  ['with the tunnel label istiod uses', '', '{networking.istio.io/tunnel: http}', 'HBONE'],
  ['opting in by label', '', '{istio.io/dataplane-mode: ambient}', 'HBONE'],
  ['opting out of an ambient namespace', 'ambient', '{istio.io/dataplane-mode: none}', 'TCP'],
  ['with no enrolment at all', '', '{}', 'TCP'],
];
for (const [title, nsLabel, labels, protocol] of entryCases) {
  test(`a WorkloadEntry ${title} uses ${protocol}`, (t) => {
    const snap = validSnapshot(docs(
      namespace('vms', nsLabel ? { 'istio.io/dataplane-mode': nsLabel } : {}),
      `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: vm\n  namespace: vms\n  annotations: {meshnode.io/node: n}\nspec:\n  address: 10.0.0.1\n  labels: ${labels}\n`,
    ));
    t.is(workloadNamed(snap, 'vms', 'vm')?.protocol, protocol);
  });
}

test('a misspelt enrolment label value is a warning and counts as absent', (t) => {
  const { snapshot, warnings } = loadYaml(docs(
    namespace('shop', { 'istio.io/dataplane-mode': 'ambeint' }),
    pod('p', { namespace: 'shop', ip: '10.0.0.1' }),
  ));
  t.is(workloadNamed(snapshot!, 'shop', 'p')?.protocol, 'TCP');
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /Namespace shop: warning: metadata\.labels\.istio\.io\/dataplane-mode: unknown value "ambeint"/);
});
