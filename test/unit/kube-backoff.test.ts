import test from 'ava';
import { Backoff } from '../../agent/sources/kube/backoff.js';

const timing = { initialMs: 800, maxMs: 30_000, resetAfterMs: 120_000 };

test('kube backoff: doubles from 0.8 s to 30 s, each delay between 1x and 2x its step', (t) => {
  let now = 0;
  const b = new Backoff(timing, () => now);
  const steps = [800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000];
  for (const step of steps) {
    now += 1_000;
    const d = b.next();
    t.true(d >= step && d <= Math.min(30_000, 2 * step), `${d} for step ${step}`);
  }
});

test('kube backoff: starts over after a quiet period without failures', (t) => {
  let now = 0;
  const b = new Backoff(timing, () => now);
  for (let i = 0; i < 6; i++) { now += 1_000; b.next(); }
  now += 120_001;
  t.true(b.next() <= 1_600);
});

test('kube backoff: delays are spread, not in lockstep', (t) => {
  const delays = new Set(Array.from({ length: 20 }, () => new Backoff(timing).next()));
  t.true(delays.size > 10);
});
