import test from 'ava';
import { allowFrom, allowTo, ap, denyFrom, runCases, type Case, type TestWorkload } from './authz-harness.js';

/** Which policies reach a workload, and the decision order. */
const NOBODY = { namespaces: ['nobody'] };
const CLIENT_NS = { namespaces: ['client'] };
const ROOT_WL: TestWorkload = { namespace: 'istio-system', name: 'gw', labels: { app: 'gw' }, ip: '10.0.9.1' };
const UNLABELED: TestWorkload = { namespace: 'shop', name: 'bare', labels: {}, ip: '10.0.1.9' };
const DENY_ALL = { action: 'DENY', rules: [{}] };

const scope: Case[] = [
  { title: 'root-namespace policy without selector applies to every namespace', objects: [ap('istio-system', 'mesh', allowFrom(NOBODY))], want: 'no-allow-matched' },
  { title: 'root-namespace policy applies to workloads in the root namespace too', objects: [ap('istio-system', 'mesh', DENY_ALL)], dst: ROOT_WL, want: 'deny-matched', policy: 'istio-system/mesh' },
  { title: 'namespace policy applies to workloads of its namespace', objects: [ap('shop', 'ns', DENY_ALL)], want: 'deny-matched', policy: 'shop/ns' },
  { title: 'namespace policy of another namespace does not apply', objects: [ap('other', 'ns', DENY_ALL)], want: 'no-allow-policies', policy: null },
  { title: 'selector policy applies when all its labels match', objects: [ap('shop', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'web', version: 'v1' } } })], want: 'deny-matched', policy: 'shop/sel' },
  { title: 'selector is a subset test: extra workload labels are fine', objects: [ap('shop', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'web' } } })], want: 'deny-matched' },
  { title: 'selector with a different label value does not apply', objects: [ap('shop', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'db' } } })], want: 'no-allow-policies' },
  { title: 'selector with a label the workload lacks does not apply', objects: [ap('shop', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'web', tier: 'front' } } })], want: 'no-allow-policies' },
  { title: 'root-namespace selector policy applies in any namespace', objects: [ap('istio-system', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'web' } } })], want: 'deny-matched', policy: 'istio-system/sel' },
  { title: 'root-namespace selector policy skips non-matching workloads', objects: [ap('istio-system', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'db' } } })], want: 'no-allow-policies' },
  { title: 'selector policy of another namespace does not apply despite matching labels', objects: [ap('other', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'web' } } })], want: 'no-allow-policies' },
  { title: 'empty selector applies to every workload of the namespace (API meaning)', objects: [ap('shop', 'sel', { ...DENY_ALL, selector: {} })], want: 'deny-matched', policy: 'shop/sel' },
  { title: 'empty matchLabels applies to every workload of the namespace', objects: [ap('shop', 'sel', { ...DENY_ALL, selector: { matchLabels: {} } })], want: 'deny-matched' },
  { title: 'an unlabeled workload matches no non-empty selector', objects: [ap('shop', 'sel', { ...DENY_ALL, selector: { matchLabels: { app: 'web' } } })], dst: UNLABELED, want: 'no-allow-policies' },
  { title: 'targetRef policy is ignored', objects: [ap('shop', 'waypoint', { ...DENY_ALL, targetRef: { kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'waypoint' } })], want: 'no-allow-policies' },
  { title: 'targetRefs policy is ignored', objects: [ap('shop', 'waypoint', { ...allowFrom(NOBODY), targetRefs: [{ kind: 'Service', group: '', name: 'web' }] })], want: 'no-allow-policies' },
  { title: 'AUDIT policy is ignored', objects: [ap('shop', 'audit', { action: 'AUDIT', rules: [{}] })], want: 'no-allow-policies' },
  { title: 'CUSTOM policy does not deny (no fail-closed at L4)', objects: [ap('shop', 'ext', { action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{}] })], want: 'no-allow-policies' },
  { title: 'CUSTOM policy does not count as an ALLOW policy', objects: [ap('shop', 'ext', { action: 'CUSTOM', provider: { name: 'ext-authz' }, rules: [{ from: [{ source: NOBODY }] }] })], want: 'no-allow-policies' },
  { title: 'dry-run DENY never denies but is reported as matched', objects: [ap('shop', 'dry', DENY_ALL, { annotations: { 'istio.io/dry-run': 'true' } })], want: 'no-allow-policies', dryRun: [{ policy: 'shop/dry', matched: true }] },
  { title: 'dry-run ALLOW does not create default-deny', objects: [ap('shop', 'dry', allowFrom(NOBODY), { annotations: { 'istio.io/dry-run': 'true' } })], want: 'no-allow-policies', dryRun: [{ policy: 'shop/dry', matched: false }] },
  { title: 'dry-run policy does not decide even next to an enforced one', objects: [ap('shop', 'dry', DENY_ALL, { annotations: { 'istio.io/dry-run': 'True' } }), ap('shop', 'allow', allowFrom(CLIENT_NS))], want: 'allow-matched', policy: 'shop/allow', dryRun: [{ policy: 'shop/dry', matched: true }] },
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((v): Case => ({ title: `dry-run annotation "${v}" is true`, objects: [ap('shop', 'dry', DENY_ALL, { annotations: { 'istio.io/dry-run': v } })], want: 'no-allow-policies' })),
  ...['0', 'f', 'false', 'FALSE', 'yes', 'on', ''].map((v): Case => ({ title: `dry-run annotation "${v}" leaves the policy enforced`, objects: [ap('shop', 'dry', DENY_ALL, { annotations: { 'istio.io/dry-run': v } })], want: 'deny-matched', policy: 'shop/dry' })),
  { title: 'omitted action means ALLOW', objects: [ap('shop', 'a', allowFrom(NOBODY))], want: 'no-allow-matched' },
  { title: 'v1beta1 policies are read like v1', objects: [{ ...ap('shop', 'b', DENY_ALL), apiVersion: 'security.istio.io/v1beta1' }], want: 'deny-matched', policy: 'shop/b' },
];

const precedence: Case[] = [
  { title: 'no policies at all', objects: [], want: 'no-allow-policies', policy: null },
  { title: 'only non-matching DENY policies', objects: [ap('shop', 'd', denyFrom(NOBODY))], want: 'no-allow-policies' },
  { title: 'DENY wins over a matching ALLOW', objects: [ap('shop', 'a', allowFrom(CLIENT_NS)), ap('shop', 'd', denyFrom(CLIENT_NS))], want: 'deny-matched', policy: 'shop/d', reason: 'denied by DENY policy shop/d rule 0' },
  { title: 'DENY wins regardless of policy order', objects: [ap('shop', 'd', denyFrom(CLIENT_NS)), ap('shop', 'a', allowFrom(CLIENT_NS))], want: 'deny-matched', policy: 'shop/d' },
  { title: 'matching ALLOW', objects: [ap('shop', 'a', allowFrom(CLIENT_NS))], want: 'allow-matched', policy: 'shop/a', reason: 'allowed by ALLOW policy shop/a rule 0' },
  { title: 'non-matching ALLOW makes default deny', objects: [ap('shop', 'a', allowFrom(NOBODY))], want: 'no-allow-matched', policy: null, reason: 'no ALLOW policy matched (1 applied: shop/a)' },
  { title: 'ALLOW policies are ORed across scopes', objects: [ap('istio-system', 'g', allowFrom(NOBODY)), ap('shop', 'n', allowFrom(CLIENT_NS))], want: 'allow-matched', policy: 'shop/n' },
  { title: 'allow-nothing does not veto another matching ALLOW', objects: [ap('shop', 'nothing', {}), ap('shop', 'a', allowFrom(CLIENT_NS))], want: 'allow-matched', policy: 'shop/a' },
  { title: 'allow-nothing alone denies everything', objects: [ap('shop', 'nothing', {})], want: 'no-allow-matched', reason: '1 applied: shop/nothing' },
  { title: 'global DENY beats a namespace ALLOW', objects: [ap('istio-system', 'g', { action: 'DENY', rules: [{}] }), ap('shop', 'a', { rules: [{}] })], want: 'deny-matched', policy: 'istio-system/g' },
  { title: 'selector DENY beats a global ALLOW', objects: [ap('istio-system', 'g', { rules: [{}] }), ap('shop', 's', { action: 'DENY', rules: [{}], selector: { matchLabels: { app: 'web' } } })], want: 'deny-matched', policy: 'shop/s' },
  { title: 'reason lists every applied ALLOW policy', objects: [ap('shop', 'a', allowFrom(NOBODY)), ap('shop', 'b', allowFrom(NOBODY))], want: 'no-allow-matched', reason: 'no ALLOW policy matched (2 applied: shop/a, shop/b)' },
  { title: 'ALLOW reduced to zero rules by HTTP filtering still applies', objects: [ap('shop', 'http', allowTo({ methods: ['GET'] }))], want: 'no-allow-matched' },
  { title: 'matching rule number is reported', objects: [ap('shop', 'a', { rules: [{ from: [{ source: NOBODY }] }, { from: [{ source: CLIENT_NS }] }] })], want: 'allow-matched', reason: 'shop/a rule 1' },
];

runCases(test, [...scope, ...precedence]);
