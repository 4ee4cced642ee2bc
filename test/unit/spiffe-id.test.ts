import test from 'ava';
import { formatSpiffeId, parseSpiffeId } from '../../agent/identity/spiffe-id.js';

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
  ['spiffe://cluster.local/ns//sa/b', /invalid namespace/],
  ['spiffe://cluster.local/ns/a/sa/', /invalid service account/],
];
for (const [input, why] of bad) {
  test(`parseSpiffeId rejects ${input}`, (t) => {
    const r = parseSpiffeId(input);
    t.is(typeof r, 'string');
    t.regex(r as string, why);
  });
}
