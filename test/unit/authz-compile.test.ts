import test from 'ava';
import { authorize, compilePolicies } from '../../agent/authz/index.js';
import { EMPTY_MATCH } from '../../agent/model/security/matchers.js';
import type { Authorization, Match, MeshSnapshot } from '../../agent/model/types.js';
import { DEFAULT_SETTINGS, makeWorkload, WEB } from './authz-harness.js';

/** The engine on hand-built Authorizations, as an xDS source would deliver them. */
function authz(namespace: string, name: string, scope: Authorization['scope'], action: Authorization['action'], matches: Partial<Match>[] | null, extra: Partial<Authorization> = {}): [string, Authorization] {
  const rules = matches === null ? [] : [{ clauses: [{ matches: matches.map((m) => ({ ...EMPTY_MATCH, ...m })) }] }];
  return [`${namespace}/${name}`, { name, namespace, scope, action, rules, dryRun: false, origin: 'AuthorizationPolicy', ...extra }];
}

function snapshot(entries: [string, Authorization][]): MeshSnapshot {
  return { settings: DEFAULT_SETTINGS, workloads: new Map(), services: new Map(), authorizations: new Map(entries), ambientNamespaces: new Set() };
}

const CONN = { identity: 'spiffe://cluster.local/ns/client/sa/sleep', srcIp: '10.0.2.7', dstIp: '10.0.1.5', dstPort: 8080 };

test('a decision only looks at its workload’s global, namespace and referenced policies', (t) => {
  const entries: [string, Authorization][] = [authz('istio-system', 'g', 'Global', 'Allow', [{}])];
  for (let n = 0; n < 200; n++) {
    entries.push(authz(`ns-${n}`, 'ns', 'Namespace', 'Deny', [{ destinationPorts: [1] }]));
    entries.push(authz(`ns-${n}`, 'sel', 'WorkloadSelector', 'Allow', [{ destinationPorts: [2] }]));
  }
  entries.push(authz('shop', 'ns', 'Namespace', 'Allow', [{ namespaces: [{ kind: 'exact', value: 'client' }] }]));
  entries.push(authz('shop', 'sel', 'WorkloadSelector', 'Deny', [{ destinationPorts: [9] }]));
  const compiled = compilePolicies(snapshot(entries));
  const applicable = compiled.applicable(makeWorkload(WEB, ['shop/sel']));
  t.deepEqual([...applicable.deny, ...applicable.allow].map((p) => p.key).sort(), ['istio-system/g', 'shop/ns', 'shop/sel']);
  t.is(compiled.size, 403);
});

test('a reference to an unknown policy is skipped (fail-open, as ztunnel)', (t) => {
  const compiled = compilePolicies(snapshot([]));
  const d = authorize(compiled, makeWorkload(WEB, ['shop/missing']), CONN);
  t.is(d.code, 'no-allow-policies');
});

test('a reference to a namespace-scoped policy is not evaluated twice', (t) => {
  const compiled = compilePolicies(snapshot([authz('shop', 'ns', 'Namespace', 'Allow', [{}])]));
  t.is(compiled.applicable(makeWorkload(WEB, ['shop/ns'])).allow.length, 1);
});

test('applicable policies are memoized per workload object', (t) => {
  const compiled = compilePolicies(snapshot([authz('shop', 'ns', 'Namespace', 'Allow', [{}])]));
  const w = makeWorkload(WEB, []);
  t.is(compiled.applicable(w), compiled.applicable(w));
});

const malformed = ['spiffe://cluster.local/ns/client', 'spiffe://cluster.local/ns/client/sa/sleep/extra', 'cluster.local/ns/client/sa/sleep', 'spiffe:///ns/client/sa/sleep', 'spiffe://td/ns//sa/x', 'spiffe://td/namespace/client/sa/x'];
for (const identity of malformed) {
  test(`malformed identity ${JSON.stringify(identity)} is treated as plaintext`, (t) => {
    const compiled = compilePolicies(snapshot([
      authz('shop', 'any-id', 'Namespace', 'Allow', [{ principals: [{ kind: 'presence' }] }]),
    ]));
    t.is(authorize(compiled, makeWorkload(WEB, []), { ...CONN, identity }).code, 'no-allow-matched');
  });
}

test('an unparseable source address matches no ipBlock and is excluded by none', (t) => {
  const compiled = compilePolicies(snapshot([
    authz('shop', 'ips', 'Namespace', 'Allow', [{ sourceIps: [{ address: '0.0.0.0', prefixLength: 0 }] }]),
  ]));
  t.is(authorize(compiled, makeWorkload(WEB, []), { ...CONN, srcIp: 'garbage' }).code, 'no-allow-matched');
});

test('an IPv6 CIDR with host bits acts as its network', (t) => {
  const compiled = compilePolicies(snapshot([
    authz('shop', 'ips', 'Namespace', 'Deny', [{ sourceIps: [{ address: '2001:db8::5', prefixLength: 32 }] }]),
  ]));
  t.is(authorize(compiled, makeWorkload(WEB, []), { ...CONN, srcIp: '2001:db8:aa::1' }).code, 'deny-matched');
});

test('a policy with zero rules never matches but still counts as ALLOW', (t) => {
  const compiled = compilePolicies(snapshot([authz('shop', 'none', 'Namespace', 'Allow', null)]));
  t.is(authorize(compiled, makeWorkload(WEB, []), CONN).code, 'no-allow-matched');
});

test('a clause with zero matches always holds', (t) => {
  const entries: [string, Authorization][] = [['shop/c', { name: 'c', namespace: 'shop', scope: 'Namespace', action: 'Deny', rules: [{ clauses: [{ matches: [] }] }], dryRun: false, origin: 'AuthorizationPolicy' }]];
  t.is(authorize(compilePolicies(snapshot(entries)), makeWorkload(WEB, []), CONN).code, 'deny-matched');
});

test('an empty match is skipped even next to a matching one in another clause', (t) => {
  const entries: [string, Authorization][] = [['shop/e', { name: 'e', namespace: 'shop', scope: 'Namespace', action: 'Deny', dryRun: false, origin: 'AuthorizationPolicy',
    rules: [{ clauses: [{ matches: [{ ...EMPTY_MATCH, destinationPorts: [8080] }] }, { matches: [EMPTY_MATCH] }] }] }]];
  t.is(authorize(compilePolicies(snapshot(entries)), makeWorkload(WEB, []), CONN).code, 'no-allow-policies');
});

test('the reason lists at most five applied ALLOW policies', (t) => {
  const entries = Array.from({ length: 7 }, (_, i) => authz('shop', `a${i}`, 'Namespace', 'Allow', [{ destinationPorts: [1] }]));
  const d = authorize(compilePolicies(snapshot(entries)), makeWorkload(WEB, []), CONN);
  t.is(d.reason, 'no ALLOW policy matched (7 applied: shop/a0, shop/a1, shop/a2, shop/a3, shop/a4 and 2 more)');
});

test('a dry-run DENY that does not match is reported as not matched', (t) => {
  const compiled = compilePolicies(snapshot([authz('shop', 'dry', 'Namespace', 'Deny', [{ destinationPorts: [1] }], { dryRun: true })]));
  t.deepEqual(authorize(compiled, makeWorkload(WEB, []), CONN).dryRun, [{ policy: 'shop/dry', matched: false }]);
});
