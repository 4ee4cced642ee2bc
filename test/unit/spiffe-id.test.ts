import test from 'ava';
import { formatSpiffeId, parseSpiffeId } from '../../agent/base/spiffe-id.js';
import { X509Certificate } from 'node:crypto';
import { workloadIdentity } from '../../agent/tunnel/peer-cert.js';
import { TestCa } from '../helpers/test-ca.js';

test('a well-formed SPIFFE id parses into its parts and formats back', (t) => {
  const id = parseSpiffeId('spiffe://cluster.local/ns/shop/sa/cart');
  t.deepEqual(id, { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'cart' });
  t.is(formatSpiffeId(id as never) as string, 'spiffe://cluster.local/ns/shop/sa/cart');
});

const bad: Array<[string, RegExp]> = [
  ['cluster.local/ns/a/sa/b', /must start with spiffe:\/\//],
  ['spiffe://cluster.local/ns/a', /must have the form/],
  ['spiffe://cluster.local/ns/a/sa/b/extra', /must have the form/],
  ['spiffe://cluster.local/namespace/a/sa/b', /must have the form/],
  ['spiffe://Cluster.Local/ns/a/sa/b', /invalid trust domain/],
  ['spiffe://cluster.local/ns//sa/b', /path segment 2 is empty/],
  ['spiffe://cluster.local/ns/a/sa/', /path segment 4 is empty/],
];
for (const [input, why] of bad) {
  test(`parseSpiffeId rejects ${input}`, (t) => {
    const r = parseSpiffeId(input);
    t.is(typeof r, 'string');
    t.regex(r as string, why);
  });
}

// Issue #15 item 5: a grant of spiffe://td/ns/shop/sa/* must not cover ids the SPIFFE spec or
// Kubernetes naming forbid — each of these was issued a certificate before the shared validator.
const forbidden: Array<[string, string, RegExp]> = [
  ['a percent-encoded path', 'spiffe://td/ns/shop/sa/..%2F..%2Fns%2Fkube-system%2Fsa%2Fadmin', /path segment 4 holds a character/],
  ['a ".." segment', 'spiffe://td/ns/shop/sa/..', /path segment 4 is "\.\."/],
  ['a "." segment', 'spiffe://td/ns/shop/sa/.', /path segment 4 is "\."/],
  ['a "*" segment', 'spiffe://td/ns/shop/sa/*', /path segment 4 holds a character/],
  ['":" and "@" in a segment', 'spiffe://td/ns/shop/sa/a:b@c', /path segment 4 holds a character/],
  ['a 2,000-character service account', `spiffe://td/ns/shop/sa/${'a'.repeat(2000)}`, /invalid service account/],
  ['more than 2048 bytes', `spiffe://td/ns/shop/sa/${'a.'.repeat(1100)}a`, /longer than 2048 bytes/],
  ['an upper-case namespace', 'spiffe://td/ns/Shop/sa/cart', /invalid namespace/],
  ['a namespace with a dot', 'spiffe://td/ns/shop.x/sa/cart', /invalid namespace/],
  ['a 64-character namespace', `spiffe://td/ns/${'n'.repeat(64)}/sa/cart`, /invalid namespace/],
  ['a service account starting with "-"', 'spiffe://td/ns/shop/sa/-cart', /invalid service account/],
  ['a service account ending with "."', 'spiffe://td/ns/shop/sa/cart.', /invalid service account/],
  ['an underscore in a service account', 'spiffe://td/ns/shop/sa/my_sa', /invalid service account/],
  ['a trust domain with a port', 'spiffe://td:443/ns/shop/sa/cart', /invalid trust domain/],
  ['an empty path segment', 'spiffe://td/ns/shop//sa/cart', /path segment 3 is empty/],
];
for (const [what, input, why] of forbidden) {
  test(`parseSpiffeId rejects ${what}`, (t) => {
    const r = parseSpiffeId(input);
    t.is(typeof r, 'string');
    t.regex(r as string, why);
    t.true((r as string).length < 400, 'a long id is not echoed whole');
  });
}

test('Kubernetes names at their limits are valid ids', (t) => {
  for (const id of [
    `spiffe://td/ns/${'n'.repeat(63)}/sa/cart`,
    `spiffe://td/ns/shop/sa/${['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.')}`,
    'spiffe://my_td.example-1/ns/kube-system/sa/my.service-account0',
  ]) t.is(typeof parseSpiffeId(id), 'object', id);
});

test('a peer certificate naming a forbidden id yields no identity', (t) => {
  const ca = new TestCa();
  t.teardown(() => ca.dispose());
  const leaf = (uri: string) => new X509Certificate(ca.issue([uri]).chainPem[0]!);
  for (const uri of ['spiffe://td/ns/shop/sa/..%2Fadmin', 'spiffe://td/ns/shop/sa/*']) t.is(typeof workloadIdentity(leaf(uri), 'client'), 'string', uri);
  t.like(workloadIdentity(leaf('spiffe://td/ns/shop/sa/cart'), 'client'), { id: 'spiffe://td/ns/shop/sa/cart' });
});
