import test from 'ava';
import { compareText, formatCount } from '../../agent/base/text.js';

test('compareText orders by code units, whatever the locale would say', (t) => {
  t.deepEqual(['b', 'B', 'a', 'A', '_', '10', '9', 'ab', 'a'].sort(compareText), ['10', '9', 'A', 'B', '_', 'a', 'a', 'ab', 'b']);
  t.is(compareText('spiffe://x/ns/a', 'spiffe://x/ns/a'), 0);
  t.true(compareText('a', 'b') < 0 && compareText('b', 'a') > 0);
});

for (const [n, text] of [[0, '0'], [7, '7'], [999, '999'], [1000, '1,000'], [50_000, '50,000'], [1_048_576, '1,048,576'], [-12_345, '-12,345'], [1.5, '1.5']] as const) {
  test(`formatCount(${n}) is ${text}`, (t) => {
    t.is(formatCount(n), text);
  });
}
