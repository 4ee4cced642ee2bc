import test from 'ava';
import { Problems } from '../../agent/config/problems.js';
import { buildAuthorizations } from '../../agent/model/security/index.js';
import { EMPTY_MATCH } from '../../agent/model/security/matchers.js';
import type { Authorization } from '../../agent/model/types.js';
import { ap, DEFAULT_SETTINGS, pa, parseObjects, type Obj } from './authz-harness.js';

/** The Authorization objects istiod would produce for ambient. */
const WORKLOADS = [
  { uid: 'web', namespace: 'shop', labels: { app: 'web' } },
  { uid: 'db', namespace: 'shop', labels: { app: 'db' } },
  { uid: 'api', namespace: 'other', labels: { app: 'web' } },
];

function translate(objects: Obj[]) {
  const problems = new Problems();
  const built = buildAuthorizations(parseObjects(objects, problems), WORKLOADS, DEFAULT_SETTINGS, problems);
  return { ...built, problems };
}

function only(objects: Obj[]): Authorization {
  const { authorizations } = translate(objects);
  return [...authorizations.values()][0]!;
}

const scopes: [string, Obj, Authorization['scope']][] = [
  ['root namespace without selector', ap('istio-system', 'p', {}), 'Global'],
  ['namespace without selector', ap('shop', 'p', {}), 'Namespace'],
  ['namespace with selector', ap('shop', 'p', { selector: { matchLabels: { app: 'web' } } }), 'WorkloadSelector'],
  ['root namespace with selector', ap('istio-system', 'p', { selector: { matchLabels: { app: 'web' } } }), 'WorkloadSelector'],
];
for (const [title, object, scope] of scopes) {
  test(`scope: ${title} is ${scope}`, (t) => t.is(only([object]).scope, scope));
}

test('a rule becomes to-clause, from-clause, then one clause per when', (t) => {
  const a = only([ap('shop', 'p', { rules: [{
    from: [{ source: { principals: ['*'], notNamespaces: ['x*'] } }, { source: { ipBlocks: ['10.0.0.0/8'] } }],
    to: [{ operation: { ports: ['80'], notPorts: ['81'] } }],
    when: [{ key: 'destination.ip', values: ['10.1.2.3'] }, { key: 'source.principal', notValues: ['*/sa/x'] }],
  }] })]);
  t.is(a.action, 'Allow');
  t.is(a.origin, 'AuthorizationPolicy');
  t.deepEqual(a.rules[0]!.clauses, [
    { matches: [{ ...EMPTY_MATCH, destinationPorts: [80], notDestinationPorts: [81] }] },
    { matches: [
      { ...EMPTY_MATCH, principals: [{ kind: 'presence' }], notNamespaces: [{ kind: 'prefix', value: 'x' }] },
      { ...EMPTY_MATCH, sourceIps: [{ address: '10.0.0.0', prefixLength: 8 }] },
    ] },
    { matches: [{ ...EMPTY_MATCH, destinationIps: [{ address: '10.1.2.3', prefixLength: 32 }] }] },
    { matches: [{ ...EMPTY_MATCH, notPrincipals: [{ kind: 'suffix', value: '/sa/x' }] }] },
  ]);
});

const addresses: [string, { address: string; prefixLength: number }][] = [
  ['10.0.2.99/16', { address: '10.0.0.0', prefixLength: 16 }],
  ['2001:DB8::1', { address: '2001:db8::1', prefixLength: 128 }],
  ['2001:db8:ffff::/32', { address: '2001:db8::', prefixLength: 32 }],
  ['::ffff:10.0.0.0/104', { address: '::ffff:a00:0', prefixLength: 104 }],
  ['::ffff:10.1.2.3', { address: '::ffff:a01:203', prefixLength: 128 }],
];
for (const [text, want] of addresses) {
  test(`ipBlock ${text} is ${want.address}/${want.prefixLength}`, (t) => {
    const a = only([ap('shop', 'p', { rules: [{ from: [{ source: { ipBlocks: [text] } }] }] })]);
    t.deepEqual(a.rules[0]!.clauses[0]!.matches[0]!.sourceIps, [want]);
  });
}

test('service accounts: bare names resolve in the policy namespace', (t) => {
  const a = only([ap('shop', 'p', { rules: [{ from: [{ source: { serviceAccounts: ['sleep', 'client/curl'] } }] }] })]);
  t.deepEqual(a.rules[0]!.clauses[0]!.matches[0]!.serviceAccounts, [
    { namespace: 'shop', serviceAccount: 'sleep' }, { namespace: 'client', serviceAccount: 'curl' },
  ]);
});

test('DENY keeps the L4 remainder of a rule with HTTP attributes and warns', (t) => {
  const { authorizations, problems } = translate([ap('shop', 'p', { action: 'DENY', rules: [{ to: [{ operation: { ports: ['8080'], methods: ['POST'] } }] }] })]);
  t.deepEqual(authorizations.get('shop/p')!.rules[0]!.clauses, [{ matches: [{ ...EMPTY_MATCH, destinationPorts: [8080] }] }]);
  t.regex(problems.warnings.map((p) => p.message).join('\n'), /HTTP attributes \(found: methods\) are dropped/);
});

test('DENY with only HTTP attributes warns that it has no effect', (t) => {
  const { problems } = translate([ap('shop', 'p', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] })]);
  t.true(problems.warnings.some((p) => p.path === 'spec.rules' && /no enforceable rules at L4/.test(p.message)));
});

test('ALLOW rule with HTTP attributes is discarded with a warning naming them', (t) => {
  const { authorizations, problems } = translate([ap('shop', 'p', { rules: [
    { from: [{ source: { requestPrincipals: ['*'] } }], when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] },
    { to: [{ operation: { ports: ['80'] } }] },
  ] })]);
  const warning = problems.warnings.find((p) => p.path === 'spec.rules[0]');
  t.regex(warning?.message ?? '', /found: requestPrincipals, request\.auth\.claims\[iss\]\); this ALLOW rule is discarded/);
  t.deepEqual(authorizations.get('shop/p')!.rules[1]!.clauses, [{ matches: [{ ...EMPTY_MATCH, destinationPorts: [80] }] }]);
});

const ignored: [string, Obj, RegExp][] = [
  ['targetRef', ap('shop', 'p', { targetRef: { kind: 'Gateway', name: 'g' } }), /ignored at L4/],
  ['targetRefs', ap('shop', 'p', { targetRefs: [{ kind: 'Service', name: 's' }] }), /ignored at L4/],
  ['AUDIT', ap('shop', 'p', { action: 'AUDIT' }), /does not support the AUDIT action/],
  ['CUSTOM', ap('shop', 'p', { action: 'CUSTOM', provider: { name: 'x' } }), /does not support the CUSTOM action/],
];
for (const [title, object, message] of ignored) {
  test(`${title} policy produces no Authorization and a warning`, (t) => {
    const { authorizations, problems } = translate([object]);
    t.is(authorizations.size, 0);
    t.deepEqual(problems.errors, []);
    t.true(problems.warnings.some((p) => message.test(p.message)));
  });
}

test('dry-run is carried on the Authorization', (t) => {
  t.true(only([ap('shop', 'p', {}, { annotations: { 'istio.io/dry-run': 'true' } })]).dryRun);
});

test('selector policies are attached to matching workloads only', (t) => {
  const { policiesByWorkload } = translate([
    ap('shop', 'sel', { selector: { matchLabels: { app: 'web' } } }),
    ap('istio-system', 'root-sel', { selector: { matchLabels: { app: 'web' } } }),
    ap('shop', 'ns', {}),
  ]);
  t.deepEqual(Object.fromEntries(policiesByWorkload), { web: ['istio-system/root-sel', 'shop/sel'], db: [], api: ['istio-system/root-sel'] });
});

test('the static STRICT policy exists once any PeerAuthentication exists', (t) => {
  const { authorizations, policiesByWorkload } = translate([pa('shop', 'ns', { mtls: { mode: 'PERMISSIVE' } })]);
  const s = authorizations.get('istio-system/istio_converted_static_strict');
  t.deepEqual(s, {
    name: 'istio_converted_static_strict', namespace: 'istio-system', scope: 'WorkloadSelector', action: 'Deny', dryRun: false,
    origin: 'PeerAuthentication', rules: [{ clauses: [{ matches: [{ ...EMPTY_MATCH, notPrincipals: [{ kind: 'presence' }] }] }] }],
  });
  t.deepEqual(policiesByWorkload.get('web'), []);
});

test('STRICT namespaces reference the static policy', (t) => {
  const { policiesByWorkload } = translate([pa('shop', 'ns', { mtls: { mode: 'STRICT' } })]);
  t.deepEqual(Object.fromEntries(policiesByWorkload), {
    web: ['istio-system/istio_converted_static_strict'], db: ['istio-system/istio_converted_static_strict'], api: [],
  });
});

test('STRICT with a PERMISSIVE port converts to DENY plaintext on other ports', (t) => {
  const { authorizations, policiesByWorkload } = translate([pa('shop', 'w', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 9090: { mode: 'PERMISSIVE' } } })]);
  t.deepEqual(policiesByWorkload.get('web'), ['shop/converted_peer_authentication_w']);
  t.deepEqual(authorizations.get('shop/converted_peer_authentication_w')!.rules[0]!.clauses, [
    { matches: [{ ...EMPTY_MATCH, notPrincipals: [{ kind: 'presence' }] }] },
    { matches: [{ ...EMPTY_MATCH, notDestinationPorts: [9090] }] },
  ]);
});

test('PERMISSIVE with a STRICT port converts to DENY plaintext on that port', (t) => {
  const { authorizations } = translate([pa('shop', 'w', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'PERMISSIVE' }, portLevelMtls: { 9090: { mode: 'STRICT' } } })]);
  t.deepEqual(authorizations.get('shop/converted_peer_authentication_w')!.rules[0]!.clauses[1], { matches: [{ ...EMPTY_MATCH, destinationPorts: [9090] }] });
});

test('root PeerAuthentication with a selector is reported as ignored', (t) => {
  const { problems } = translate([pa('istio-system', 'r', { selector: { matchLabels: { app: 'web' } }, mtls: { mode: 'STRICT' } })]);
  t.true(problems.warnings.some((p) => p.path === 'spec.selector' && /root namespace istio-system is ignored/.test(p.message)));
});

test('a newer namespace-wide PeerAuthentication is reported as ignored', (t) => {
  const { problems } = translate([pa('shop', 'new', { mtls: { mode: 'STRICT' } }, '2024-06-01T00:00:00Z'), pa('shop', 'old', {}, '2024-01-01T00:00:00Z')]);
  const w = problems.warnings.find((p) => p.location.name === 'new');
  t.regex(w?.message ?? '', /shop\/old is older and also namespace-wide in shop/);
});

test('duplicate policy names are errors', (t) => {
  const { problems } = translate([ap('shop', 'p', {}), ap('shop', 'p', { action: 'DENY', rules: [{}] })]);
  t.regex(problems.errors[0]?.message ?? '', /duplicate AuthorizationPolicy shop\/p/);
});
