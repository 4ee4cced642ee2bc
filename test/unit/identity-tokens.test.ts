import test from 'ava';
import { matchesPattern, TokenTable } from '../../agent/ca/tokens.js';

const patterns: [string, string, boolean][] = [
  ['spiffe://td/ns/shop/sa/cart', 'spiffe://td/ns/shop/sa/cart', true],
  ['spiffe://td/ns/shop/sa/cart', 'spiffe://td/ns/shop/sa/carts', false],
  ['spiffe://td/ns/shop/sa/*', 'spiffe://td/ns/shop/sa/web', true],
  ['spiffe://td/ns/shop/sa/*', 'spiffe://td/ns/shopping/sa/web', false],
  ['spiffe://td/ns/*/sa/*', 'spiffe://td/ns/any/sa/thing', true],
  ['spiffe://td/ns/*/sa/*', 'spiffe://other/ns/any/sa/thing', false],
  ['spiffe://*/ns/a/sa/b', 'spiffe://x.y/ns/a/sa/b', true],
  ['spiffe://td/ns/*/sa/*', 'spiffe://td/ns/a/b/sa/c', false],
];

for (const [pattern, id, expected] of patterns) {
  test(`${pattern} ${expected ? 'matches' : 'does not match'} ${id}`, (t) => {
    t.is(matchesPattern(pattern, id), expected);
  });
}

test('a token table maps tokens to identities and grants', (t) => {
  const table = TokenTable.parse(`
- token: aaaaaaaaaaaaaaaaaaaa
  identity: spiffe://td/ns/istio-system/sa/ztunnel
  impersonate: ["spiffe://td/ns/*/sa/*"]
- token: bbbbbbbbbbbbbbbbbbbb
  identity: spiffe://td/ns/shop/sa/cart
`, 'tokens.yaml');
  t.is(table.size, 2);
  t.deepEqual(table.lookup('aaaaaaaaaaaaaaaaaaaa'), { identity: 'spiffe://td/ns/istio-system/sa/ztunnel', impersonate: ['spiffe://td/ns/*/sa/*'] });
  t.deepEqual(table.lookup('bbbbbbbbbbbbbbbbbbbb')?.impersonate, []);
  t.is(table.lookup('cccccccccccccccccccc'), undefined);
});

const bad: [string, string, RegExp][] = [
  ['not a list', 'token: x', /must be a list/],
  ['a short token', '- {token: short, identity: "spiffe://td/ns/a/sa/b"}', /at least 16 characters/],
  ['a bad identity', '- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/a/b"}', /identity must be a SPIFFE id/],
  ['a partial wildcard', '- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/ns/a/sa/b", impersonate: ["spiffe://td/ns/sh*/sa/*"]}', /whole segment/],
  ['a malformed pattern', '- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/ns/a/sa/b", impersonate: ["spiffe://td/*/a/sa/b"]}', /must have the form/],
  ['an unknown field', '- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/ns/a/sa/b", role: admin}', /unknown field role/],
  ['a duplicate token', '- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/ns/a/sa/b"}\n- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/ns/a/sa/c"}', /duplicate token/],
];

for (const [what, yaml, error] of bad) {
  test(`a token file with ${what} is refused with the entry named`, (t) => {
    t.throws(() => TokenTable.parse(yaml, 'tokens.yaml'), { message: error });
  });
}

test('a token file granting an identity Kubernetes cannot name is refused', (t) => {
  t.throws(() => TokenTable.parse('- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/ns/shop/sa/.."}', 'tokens.yaml'), { message: /identity must be a SPIFFE id/ });
  t.throws(() => TokenTable.parse('- {token: aaaaaaaaaaaaaaaaaaaa, identity: "spiffe://td/ns/a/sa/b", impersonate: ["spiffe://td/ns/Shop/sa/*"]}', 'tokens.yaml'), { message: /must have the form/ });
});

test('a token with expires is refused once that time has passed; a bad expires is an error naming the entry', (t) => {
  const table = TokenTable.parse(`
- token: cccccccccccccccccccc
  identity: spiffe://td/ns/shop/sa/vm
  expires: "2030-01-01T00:00:00Z"
`, 'tokens.yaml');
  t.is(String(table.lookup('cccccccccccccccccccc', Date.parse('2029-12-31T23:59:59Z'))?.identity), 'spiffe://td/ns/shop/sa/vm');
  t.is(table.lookup('cccccccccccccccccccc', Date.parse('2030-01-01T00:00:00Z')), undefined);
  t.throws(() => TokenTable.parse('- token: dddddddddddddddddddd\n  identity: spiffe://td/ns/a/sa/b\n  expires: soon\n', 'tokens.yaml'), { message: /entry 1: expires must be an RFC 3339 time/ });
});
