import test from 'ava';
import { allowFrom, ap, build, denyFrom, runCases } from './authz-harness.js';

/**
 * Known Istio authorization pitfalls: an ALLOW with only negative identity fields admits plaintext
 * (and the validator warns about it), a suffix principal in a DENY applies to TCP, and a dot in a
 * service account or principal is a literal character.
 */
const P = (spec: Record<string, unknown>) => [ap('shop', 'p', spec)];
const PLAIN = { plaintext: true };

runCases(test, [
  { title: 'PERMISSIVE plaintext from foo meets an ALLOW with only notNamespaces [foo]', objects: P(allowFrom({ notNamespaces: ['foo'] })), conn: { ...PLAIN, srcIp: '10.0.4.4' }, want: 'allow-matched' },
  { title: 'the same caller with mTLS identity in foo is excluded', objects: P(allowFrom({ notNamespaces: ['foo'] })), conn: { identity: 'spiffe://cluster.local/ns/foo/sa/x' }, want: 'no-allow-matched' },
  { title: 'DENY with a suffix principal *-sa denies a matching TCP caller', objects: P(denyFrom({ principals: ['*-sa'] })), conn: { identity: 'spiffe://cluster.local/ns/client/sa/build-sa' }, want: 'deny-matched', policy: 'shop/p' },
  { title: 'DENY with a suffix principal *-sa leaves other callers alone', objects: P(denyFrom({ principals: ['*-sa'] })), conn: { identity: 'spiffe://cluster.local/ns/client/sa/build' }, want: 'no-allow-policies' },
  { title: 'serviceAccounts cert-manager.io does not match caller cert-manager-io', objects: P(allowFrom({ serviceAccounts: ['shop/cert-manager.io'] })), conn: { identity: 'spiffe://cluster.local/ns/shop/sa/cert-manager-io' }, want: 'no-allow-matched' },
  { title: 'serviceAccounts cert-manager.io matches caller cert-manager.io', objects: P(allowFrom({ serviceAccounts: ['shop/cert-manager.io'] })), conn: { identity: 'spiffe://cluster.local/ns/shop/sa/cert-manager.io' }, want: 'allow-matched' },
  { title: 'principal with a dot is literal, not a pattern', objects: P(allowFrom({ principals: ['cluster.local/ns/shop/sa/cert-manager.io'] })), conn: { identity: 'spiffe://cluster.local/ns/shop/sa/cert-manager-io' }, want: 'no-allow-matched' },
]);

const warned = (spec: Record<string, unknown>) => build(P(spec)).problems.warnings.filter((p) => /only negative identity fields/.test(p.message));

const negatives: [string, Record<string, unknown>, string[]][] = [
  ['ALLOW with only notNamespaces', allowFrom({ notNamespaces: ['foo'] }), ['spec.rules[0].from[0].source']],
  ['ALLOW with notPrincipals and an ipBlock', allowFrom({ notPrincipals: ['a/ns/b/sa/c'], ipBlocks: ['10.0.0.0/8'] }), ['spec.rules[0].from[0].source']],
  ['ALLOW with notNamespaces next to namespaces', allowFrom({ namespaces: ['shop'], notNamespaces: ['foo'] }), []],
  ['ALLOW with only positive namespaces', allowFrom({ namespaces: ['shop'] }), []],
  ['DENY with only notNamespaces', denyFrom({ notNamespaces: ['foo'] }), []],
];
for (const [what, spec, paths] of negatives) {
  test(`validator: ${what} ${paths.length ? 'warns that plaintext matches' : 'does not warn'}`, (t) => {
    const w = warned(spec);
    t.deepEqual(w.map((p) => p.path), paths);
    t.is(build(P(spec)).problems.errors.length, 0, 'a warning, never an error: the policy is legal');
  });
}
