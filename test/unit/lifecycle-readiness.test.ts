import test from 'ava';
import { Readiness } from '../../agent/lifecycle/readiness.js';
import { drainAll } from '../../agent/lifecycle/drain.js';
import { ShutdownTrigger } from '../../agent/lifecycle/shutdown.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';

const lines: string[] = [];
setLogSink((line) => lines.push(line));
const log = createLogger('test');

test('readiness is pending until every named blocker is released, and lists them sorted', (t) => {
  const r = new Readiness(log);
  const a = r.block('pod registry');
  const b = r.block('mesh config');
  t.false(r.isReady());
  t.deepEqual(r.pendingNames(), ['mesh config', 'pod registry']);
  a();
  a();
  t.deepEqual(r.pendingNames(), ['mesh config']);
  b();
  t.true(r.isReady());
});

test('a blocker name cannot be pending twice', (t) => {
  const r = new Readiness(log);
  r.block('x');
  t.throws(() => r.block('x'), { message: /already pending/ });
});

test('a drain that finishes in time destroys nothing', async (t) => {
  let destroyed = false;
  const result = await drainAll([{ name: 'quick', close: async () => undefined, destroy: () => { destroyed = true; } }], 1000, log);
  t.deepEqual(result, { overran: [] });
  t.false(destroyed);
});

test('a component still closing at the deadline is destroyed and named', async (t) => {
  const destroyed: string[] = [];
  const result = await drainAll([
    { name: 'slow', close: () => new Promise(() => undefined), destroy: () => destroyed.push('slow') },
    { name: 'quick', close: async () => undefined, destroy: () => destroyed.push('quick') },
    { name: 'failing', close: async () => { throw new Error('boom'); } },
  ], 50, log);
  t.deepEqual(result, { overran: ['slow'] });
  t.deepEqual(destroyed, ['slow']);
  t.true(lines.some((l) => l.includes('drain overran')));
});

test('the shutdown trigger resolves once with the first reason', async (t) => {
  const s = new ShutdownTrigger();
  t.false(s.triggered);
  s.trigger('admin /quitquitquit');
  s.trigger('SIGTERM');
  t.true(s.triggered);
  t.is(await s.requested, 'admin /quitquitquit');
});
