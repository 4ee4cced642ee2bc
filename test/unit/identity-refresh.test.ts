import test from 'ava';
import { backoffDelay, DEFAULT_BACKOFF, MIN_REFRESH_INTERVAL_MS, refreshAt, retryAt } from '../../agent/identity/refresh.js';

const mid = () => 0.5;
const low = () => 0;
const high = () => 0.999999;

const backoffs: [number, () => number, number][] = [
  [1, mid, 500], [2, mid, 1000], [3, mid, 2000], [9, mid, 128_000], [10, mid, 150_000], [50, mid, 150_000],
  [1, low, 400], [1, high, 600], [10, low, 120_000], [10, high, 180_000],
];

for (const [failures, random, expected] of backoffs) {
  test(`backoff after ${failures} failure(s) with random ${random()} is ${expected} ms`, (t) => {
    t.is(backoffDelay(failures, random), expected);
  });
}

test('backoff jitter stays within ±20 % of the doubled delay', (t) => {
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(3, Math.random, DEFAULT_BACKOFF);
    t.true(d >= 1600 && d <= 2400, String(d));
  }
});

test('a 24h certificate is renewed at half of its remaining life, within 2 % jitter', (t) => {
  const received = 1_000_000;
  const notBefore = received - 120_000;
  const notAfter = received + 86_400_000;
  t.is(refreshAt(notBefore, notAfter, received, mid), received + 43_200_000);
  t.is(refreshAt(notBefore, notAfter, received, low), received + 43_200_000 * 0.98);
  t.true(refreshAt(notBefore, notAfter, received, high) <= received + 43_200_000 * 1.02);
});

test('a back-dated short certificate is not due immediately', (t) => {
  const received = 5_000_000;
  t.is(refreshAt(received - 120_000, received + 4_000, received, mid), received + 2_000);
});

test('renewal never comes sooner than the minimum interval, nor after expiry', (t) => {
  const received = 5_000_000;
  t.is(refreshAt(received - 120_000, received + 1_200, received, mid), received + MIN_REFRESH_INTERVAL_MS);
  t.is(refreshAt(received - 120_000, received + 500, received, mid), received + 500);
});

test('a retry is due after the backoff, but no later than the expiry of the certificate in use', (t) => {
  t.is(retryAt(1000, 5000, undefined), 6000);
  t.is(retryAt(1000, 5000, 3000), 3000);
  t.is(retryAt(1000, 5000, 900), 6000, 'an expired certificate does not pull the retry into the past');
});
