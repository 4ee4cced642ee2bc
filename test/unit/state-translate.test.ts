import test from 'ava';
import { parseFile } from '../../agent/config/documents.js';
import { Problems, formatProblem } from '../../agent/config/problems.js';
import { readObjects } from '../../agent/model/objects/read-objects.js';
import { MeshTranslator, inputKey, type TranslatorInput } from '../../agent/model/translate/translator.js';
import { StateStore } from '../../agent/state/store.js';
import { fingerprint } from '../../agent/base/fingerprint.js';
import { SETTINGS, validSnapshot } from './model-harness.js';

/**
 * The incremental translator must give exactly what a whole translation of the same objects
 * gives, whatever sequence of changes led there, and recompute only what a change reaches.
 */
function objects(text: string): TranslatorInput[] {
  const problems = new Problems();
  const { objects: parsed, security } = readObjects(parseFile('mesh.yaml', text, problems), problems);
  if (problems.errors.length > 0) throw new Error(problems.errors.map(formatProblem).join('\n'));
  return [...parsed, ...security];
}

const ns = (name: string, ambient = true) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}${ambient ? ', labels: {istio.io/dataplane-mode: ambient}' : ''}}\n`;
const pod = (name: string, namespace: string, ip: string, app = name, node = 'n1') =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${namespace}, labels: {app: ${app}}}\nspec: {nodeName: ${node}, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}\nstatus: {podIP: ${ip}}\n`;
const svc = (name: string, namespace: string, vip: string, app: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {clusterIP: ${vip}, selector: {app: ${app}}, ports: [{port: 80, targetPort: http}]}\n`;
const policy = (name: string, namespace: string, app: string, principal: string) =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {selector: {matchLabels: {app: ${app}}}, rules: [{from: [{source: {principals: ["${principal}"]}}]}]}\n`;
const strict = (namespace: string) => `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: ${namespace}}\nspec: {mtls: {mode: STRICT}}\n`;
const yaml = (...docs: string[]) => docs.join('---\n');

/** The store a translator's committed steps built, compared with a store of the whole translation. */
function sameAsWhole(t: { deepEqual(a: unknown, b: unknown, m?: string): void }, store: StateStore, text: string, what: string): void {
  const whole = StateStore.fromSnapshot(validSnapshot(text)).snapshot();
  const now = store.snapshot();
  const sorted = <T>(m: ReadonlyMap<string, T>) => [...m.keys()].sort().map((k) => [k, fingerprint(m.get(k))]);
  t.deepEqual(sorted(now.workloads), sorted(whole.workloads), `${what}: workloads`);
  t.deepEqual(sorted(now.services), sorted(whole.services), `${what}: services`);
  t.deepEqual(sorted(now.authorizations), sorted(whole.authorizations), `${what}: authorizations`);
  t.deepEqual([...now.ambientNamespaces].sort(), [...whole.ambientNamespaces].sort(), `${what}: ambient namespaces`);
}

function step(translator: MeshTranslator, store: StateStore, text: string) {
  const pending = translator.replaceAll(objects(text));
  const errors = pending.problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) return { pending, errors, change: undefined };
  pending.commit();
  return { pending, errors, change: store.apply(pending.delta) };
}

const base = [
  ns('shop'), ns('bank'), ns('istio-system', false),
  pod('web-0', 'shop', '10.1.0.1', 'web'), pod('web-1', 'shop', '10.1.0.2', 'web'), pod('db-0', 'bank', '10.2.0.1', 'db', 'n2'),
  svc('web', 'shop', '10.96.0.1', 'web'), svc('db', 'bank', '10.96.0.2', 'db'),
  policy('allow-web', 'shop', 'web', 'cluster.local/ns/bank/sa/default'),
];

test('a sequence of edits applied incrementally ends where a whole translation of the last config is', (t) => {
  const translator = new MeshTranslator(SETTINGS);
  const store = new StateStore(SETTINGS);
  const configs: [string, string[]][] = [
    ['start', base],
    ['a pod added', [...base, pod('web-2', 'shop', '10.1.0.3', 'web')]],
    ['a pod relabelled out of its service', [...base.filter((d) => !d.includes('web-1')), pod('web-1', 'shop', '10.1.0.2', 'other')]],
    ['a pod removed', base.filter((d) => !d.includes('web-1'))],
    ['a service selector changed', [...base.filter((d) => !d.includes('kind: Service\nmetadata: {name: web')), svc('web', 'shop', '10.96.0.1', 'nothing')]],
    ['a namespace leaves ambient', [...base.filter((d) => !d.includes('name: bank,')), ns('bank', false)]],
    ['a mesh-wide STRICT arrives', [...base, strict('istio-system')]],
    ['a root-namespace policy arrives', [...base, strict('istio-system'), policy('root-allow', 'istio-system', 'db', 'cluster.local/ns/shop/sa/default')]],
    ['the root policy leaves', [...base, strict('istio-system')]],
    ['the STRICT leaves', base],
    ['a pod moves to another IP held by nobody', [...base.filter((d) => !d.includes('db-0')), pod('db-0', 'bank', '10.2.0.9', 'db', 'n2')]],
    ['everything goes', [ns('shop')]],
  ];
  for (const [what, docs] of configs) {
    const text = yaml(...docs);
    const { errors } = step(translator, store, text);
    t.deepEqual(errors, [], what);
    sameAsWhole(t, store, text, what);
  }
});

test('one changed pod recomputes only that workload; one changed policy only its namespace', (t) => {
  const translator = new MeshTranslator(SETTINGS);
  const store = new StateStore(SETTINGS);
  step(translator, store, yaml(...base));
  // Edited in place: an object that moves within its file is re-translated so reports name its new place.
  const inPlace = (docs: string[], marker: string, doc: string) => docs.map((d) => (d.includes(marker) ? doc : d));
  const podMoved = inPlace(base, 'web-1', pod('web-1', 'shop', '10.1.0.2', 'web', 'n3'));
  const podEdit = step(translator, store, yaml(...podMoved));
  t.deepEqual(podEdit.pending.recomputed, { namespaces: 1, whole: 0, workloads: 1 });
  t.deepEqual(podEdit.change!.workloads, { added: [], changed: ['Kubernetes//Pod/shop/web-1'], removed: [] });
  t.deepEqual(podEdit.change!.authorizations, { added: [], changed: [], removed: [] });

  const policyEdited = inPlace(podMoved, 'allow-web', policy('allow-web', 'shop', 'web', 'cluster.local/ns/bank/sa/other'));
  const policyEdit = step(translator, store, yaml(...policyEdited));
  t.like(policyEdit.pending.recomputed, { namespaces: 1, whole: 1 });
  t.deepEqual(policyEdit.change!.authorizations, { added: [], changed: ['shop/allow-web'], removed: [] });
  t.deepEqual(policyEdit.change!.workloads, { added: [], changed: [], removed: [] }, 'the workloads it selects still reference it by key');
});

test('re-reading an unchanged config changes nothing, even when documents moved', (t) => {
  const translator = new MeshTranslator(SETTINGS);
  const store = new StateStore(SETTINGS);
  step(translator, store, yaml(...base));
  const again = step(translator, store, yaml(...[...base].reverse()));
  t.deepEqual(again.errors, []);
  t.deepEqual(again.change!.workloads, { added: [], changed: [], removed: [] });
  t.deepEqual(again.change!.services, { added: [], changed: [], removed: [] });
  t.deepEqual(again.change!.authorizations, { added: [], changed: [], removed: [] });
});

test('a pod taking an IP another namespace holds is an error naming both, and a rejected step leaves the baseline as it was', (t) => {
  const translator = new MeshTranslator(SETTINGS);
  const store = new StateStore(SETTINGS);
  step(translator, store, yaml(...base));
  const clash = step(translator, store, yaml(...base, pod('thief', 'bank', '10.1.0.1', 'x')));
  t.is(clash.errors.length, 1);
  t.regex(formatProblem(clash.errors[0]!), /Pod bank\/thief: error: status: address 10\.1\.0\.1 is also used by Pod shop\/web-0 at mesh\.yaml:\d+/);
  t.is(clash.change, undefined);
  // Not committed: the same edit is still an edit, and the held IP is still held.
  t.is(translator.replaceAll(objects(yaml(...base, pod('thief', 'bank', '10.1.0.1', 'x')))).problems.filter((p) => p.severity === 'error').length, 1);
  // Once the holder leaves, the address is free.
  const moved = step(translator, store, yaml(...base.filter((d) => !d.includes('web-0')), pod('thief', 'bank', '10.1.0.1', 'x')));
  t.deepEqual(moved.errors, []);
  t.is(store.workloadByIp('10.1.0.1')?.name, 'thief');
});

test('a VIP claimed across namespaces is an error; within one namespace it is reported once', (t) => {
  const translator = new MeshTranslator(SETTINGS);
  const store = new StateStore(SETTINGS);
  step(translator, store, yaml(...base));
  const clash = step(translator, store, yaml(...base, svc('copy', 'bank', '10.96.0.1', 'db')));
  t.is(clash.errors.length, 1);
  t.regex(formatProblem(clash.errors[0]!), /address 10\.96\.0\.1 is also a VIP of Service shop\/web/);
  const same = new MeshTranslator(SETTINGS).replaceAll(objects(yaml(...base, svc('copy', 'shop', '10.96.0.1', 'web'))));
  t.is(same.problems.filter((p) => p.severity === 'error').length, 1);
});

test('inputKey names kind, namespace and name', (t) => {
  const [first] = objects(pod('web-0', 'shop', '10.1.0.1'));
  t.is(inputKey(first!), 'Pod/shop/web-0');
});
