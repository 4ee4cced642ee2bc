import test from 'ava';
import { FetchLimiter } from '../../agent/identity/limiter.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

test('no more than the limit run at once, and queued work starts as slots free up', async (t) => {
  const limiter = new FetchLimiter(8);
  let running = 0;
  let peak = 0;
  const gates = Array.from({ length: 20 }, deferred);
  const finished = gates.map((g, i) => new Promise<void>((done) => limiter.submit(`id${i}`, true, async () => {
    running++;
    peak = Math.max(peak, running);
    await g.promise;
    running--;
    done();
  })));
  t.is(limiter.inFlight, 8);
  gates.forEach((g) => g.resolve());
  await Promise.all(finished);
  t.is(peak, 8);
  await new Promise((r) => setTimeout(r, 10));
  t.is(limiter.inFlight, 0);
});

test('urgent work starts before background renewals, and bump promotes a renewal', async (t) => {
  const limiter = new FetchLimiter(1);
  const order: string[] = [];
  const gate = deferred();
  limiter.submit('busy', true, () => gate.promise);
  for (const key of ['renew-a', 'renew-b']) limiter.submit(key, false, async () => { order.push(key); });
  limiter.submit('new', true, async () => { order.push('new'); });
  limiter.bump('renew-b');
  gate.resolve();
  await new Promise((r) => setTimeout(r, 10));
  t.deepEqual(order, ['new', 'renew-b', 'renew-a']);
});

test('a cancelled task never runs', async (t) => {
  const limiter = new FetchLimiter(1);
  const gate = deferred();
  let ran = false;
  limiter.submit('busy', true, () => gate.promise);
  limiter.submit('gone', true, async () => { ran = true; });
  limiter.cancel('gone');
  gate.resolve();
  await new Promise((r) => setTimeout(r, 10));
  t.false(ran);
});
