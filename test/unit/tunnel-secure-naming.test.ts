import test from 'ava';
import { checkServerName } from '../../agent/tunnel/secure-naming.js';
import { baggageHeader, forwardedHeader, traceparentHeader } from '../../agent/tunnel/connect-headers.js';
import { ResetBudget } from '../../agent/tunnel/reset-budget.js';

const A = 'spiffe://cluster.local/ns/shop/sa/a';
const B = 'spiffe://cluster.local/ns/shop/sa/b';

test('the server is accepted when its SPIFFE id is one of the expected', (t) => {
  t.is(checkServerName(B, [A, B]), undefined);
});

test('the server is refused when it presents none of the expected ids, naming both sides', (t) => {
  const why = checkServerName(A, [B]);
  t.regex(why ?? '', /expected san/);
  t.regex(why ?? '', /sa\/a/);
  t.regex(why ?? '', /sa\/b/);
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
