import test from 'ava';
import { forwardedHeader, forwardedSourcePort } from '../../agent/tunnel/index.js';

test('the client port comes from forwarded only when its IP is the TCP peer', (t) => {
  t.is(forwardedSourcePort(forwardedHeader({ ip: '10.1.1.2', port: 40704 }), '10.1.1.2'), 40704);
  t.is(forwardedSourcePort(forwardedHeader({ ip: '10.1.1.2', port: 40704 }, 'b.shop.svc.cluster.local'), '10.1.1.2'), 40704);
  t.is(forwardedSourcePort(forwardedHeader({ ip: 'fd00::2', port: 5000 }), 'fd00::2'), 5000);
  t.is(forwardedSourcePort(forwardedHeader({ ip: '10.1.1.3', port: 40704 }), '10.1.1.2'), undefined, 'another IP');
  t.is(forwardedSourcePort([forwardedHeader({ ip: '10.1.1.2', port: 2000 })], '10.1.1.2'), 2000);
});

test('a forwarded header that names no usable port gives none', (t) => {
  for (const header of [undefined, '', 'for="10.1.1.2"', 'for=10.1.1.2:4000', 'for="10.1.1.2:0"', 'for="10.1.1.2:70000"',
    'for="10.1.1.2:513"', 'for="[10.1.1.2]:4000"', 'for="10.1.1.2:4000 "', 'xfor="10.1.1.2:4000"', `for="${'1'.repeat(100)}"`]) {
    t.is(forwardedSourcePort(header, '10.1.1.2'), undefined, String(header));
  }
});
