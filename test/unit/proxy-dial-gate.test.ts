import test from 'ava';
import { DialGate, type Admission } from '../../agent/proxy/dial-gate.js';

const A = 'spiffe://cluster.local/ns/shop/sa/a';
const B = 'spiffe://cluster.local/ns/shop/sa/b';
const live = () => new AbortController().signal;
const granted = (a: Admission): { release: () => void } => {
  if (typeof a === 'string') throw new Error(`not granted: ${a}`);
  return a;
};
const turn = () => new Promise((r) => setImmediate(r));

test('up to the active bound are granted, the next wait in order, past the waiting bound they are refused', async (t) => {
  const gate = new DialGate({ active: 2, waiting: 2 });
  const first = await Promise.all([gate.acquire(A, live()), gate.acquire(A, live())]);
  const order: number[] = [];
  const third = gate.acquire(A, live()).then((a) => { order.push(3); return a; });
  const fourth = gate.acquire(A, live()).then((a) => { order.push(4); return a; });
  t.is(await gate.acquire(A, live()), 'full');
  t.deepEqual(gate.load(A), { active: 2, waiting: 2 });
  granted(first[0]!).release();
  granted(first[1]!).release();
  granted(await third).release();
  granted(await fourth).release();
  t.deepEqual(order, [3, 4]);
  t.deepEqual(gate.load(A), { active: 0, waiting: 0 });
});

test('a stream reset while waiting leaves the queue and its turn goes to the next', async (t) => {
  const gate = new DialGate({ active: 1, waiting: 2 });
  const held = granted(await gate.acquire(A, live()));
  const reset = new AbortController();
  const waiting = gate.acquire(A, reset.signal);
  const next = gate.acquire(A, live());
  await turn();
  reset.abort();
  t.is(await waiting, 'aborted');
  t.deepEqual(gate.load(A), { active: 1, waiting: 1 });
  held.release();
  granted(await next).release();
  t.deepEqual(gate.load(A), { active: 0, waiting: 0 });
});

test('a stream reset before its turn of the event loop never takes a slot', async (t) => {
  const gate = new DialGate({ active: 1, waiting: 1 });
  const reset = new AbortController();
  const admission = gate.acquire(A, reset.signal);
  reset.abort();
  t.is(await admission, 'aborted');
  t.deepEqual(gate.load(A), { active: 0, waiting: 0 });
});

test('peers have separate bounds, and releasing twice frees one slot', async (t) => {
  const gate = new DialGate({ active: 1, waiting: 0 });
  const a = granted(await gate.acquire(A, live()));
  t.is(await gate.acquire(A, live()), 'full');
  granted(await gate.acquire(B, live())).release();
  a.release();
  a.release();
  t.deepEqual(gate.load(A), { active: 0, waiting: 0 });
  granted(await gate.acquire(A, live())).release();
});
