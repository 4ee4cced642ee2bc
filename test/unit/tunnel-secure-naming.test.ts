import test from 'ava';
import { checkServerName, clientIdentity, uriSans } from '../../agent/tunnel/secure-naming.js';
import { baggageHeader, forwardedHeader, traceparentHeader } from '../../agent/tunnel/connect-headers.js';
import { ResetBudget } from '../../agent/tunnel/reset-budget.js';

const A = 'spiffe://cluster.local/ns/shop/sa/a';
const B = 'spiffe://cluster.local/ns/shop/sa/b';

test('URI SANs are read in order and other SAN types ignored', (t) => {
  t.deepEqual(uriSans(`DNS:x.example, URI:${A}, IP Address:10.0.0.1, URI:${B}`), [A, B]);
});

test('a JSON-quoted SAN value with a comma stays one value', (t) => {
  t.deepEqual(uriSans('URI:"spiffe://cluster.local/ns/a,b/sa/c", URI:https://x'), ['spiffe://cluster.local/ns/a,b/sa/c', 'https://x']);
});

test('no SAN text yields no identities', (t) => {
  t.deepEqual(uriSans(undefined), []);
});

test('the server is accepted when any presented SPIFFE id is expected', (t) => {
  t.is(checkServerName(`URI:${B}`, [A, B]), undefined);
});

test('the server is refused when it presents none of the expected ids, naming both sides', (t) => {
  const why = checkServerName(`URI:${A}`, [B]);
  t.regex(why ?? '', /expected san/);
  t.regex(why ?? '', /sa\/a/);
});

test('a non-SPIFFE URI never satisfies secure naming', (t) => {
  t.truthy(checkServerName('URI:https://cluster.local/ns/shop/sa/b', ['https://cluster.local/ns/shop/sa/b']));
});

test('the client identity is the first SPIFFE URI SAN, in our trust domain', (t) => {
  const peer = clientIdentity(`URI:https://x, URI:${A}, URI:${B}`, 'cluster.local');
  t.is(typeof peer === 'string' ? peer : peer.id, A);
});

test('a client from another trust domain or without SPIFFE id is refused', (t) => {
  t.regex(clientIdentity('URI:spiffe://other/ns/shop/sa/a', 'cluster.local') as string, /trust domain/);
  t.regex(clientIdentity('DNS:a.example', 'cluster.local') as string, /no spiffe/);
});

test('baggage lists non-empty source attributes in ztunnel order', (t) => {
  t.is(baggageHeader({ clusterId: 'c1', namespace: 'shop', workloadKind: 'pod', workloadName: 'a-0', canonicalName: 'a', canonicalRevision: '' }),
    'k8s.cluster.name=c1,k8s.namespace.name=shop,k8s.pod.name=a-0,service.name=a');
});

test('forwarded names the source address and the service host', (t) => {
  t.is(forwardedHeader({ ip: '10.0.0.1', port: 4312 }, 'echo.default.svc.cluster.local'), 'for="10.0.0.1:4312";host=echo.default.svc.cluster.local');
  t.is(forwardedHeader({ ip: 'fd00::1', port: 1 }), 'for="[fd00::1]:1"');
});

test('traceparent is W3C-shaped and random per call', (t) => {
  const a = traceparentHeader();
  t.regex(a, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  t.is(a.length, 55);
  t.not(a, traceparentHeader());
});

test('the reset budget allows a burst of 100 and then reports exhaustion', (t) => {
  const budget = new ResetBudget(100, 0);
  const spent = Array.from({ length: 101 }, () => budget.spend());
  t.false(spent.slice(0, 100).some(Boolean));
  t.true(spent[100]);
});
