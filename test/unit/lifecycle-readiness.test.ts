import test from 'ava';
import { Readiness } from '../../agent/lifecycle/readiness.js';
import { certificatesCondition, CERT_NOT_READY_AFTER_MS } from '../../agent/lifecycle/readiness-certs.js';
import { DescriptorProbe, RECOVER_AFTER } from '../../agent/lifecycle/readiness-descriptors.js';
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

test('a failing condition makes a started agent not ready, with the reason, until it holds again', (t) => {
  const r = new Readiness(log);
  let reason: string | undefined = 'no valid certificate for x';
  r.condition('certificates', () => reason);
  r.condition('descriptors', () => undefined);
  t.false(r.isReady());
  t.deepEqual(r.failing(), ['certificates: no valid certificate for x']);
  reason = undefined;
  t.true(r.isReady());
  t.throws(() => r.condition('descriptors', () => undefined), { message: /already exists/ });
});

test('one exhausted descriptor probe does not flap readiness; two in a row do, and five good ones recover', (t) => {
  const p = new DescriptorProbe(log);
  p.record('EMFILE', 1_000);
  p.record(undefined, 2_000);
  p.record('EMFILE', 3_000);
  t.is(p.failure(), undefined);
  p.record('ENFILE', 4_000);
  t.is(p.failure(), 'cannot create file descriptors (ENFILE) since 1970-01-01T00:00:04.000Z');
  for (let i = 0; i < RECOVER_AFTER - 1; i++) p.record(undefined, 5_000 + i);
  t.truthy(p.failure(), 'still failing before RECOVER_AFTER good probes');
  p.record('EMFILE', 9_000);
  for (let i = 0; i < RECOVER_AFTER - 1; i++) p.record(undefined, 10_000 + i);
  t.truthy(p.failure(), 'a failure restarts the count');
  p.record(undefined, 20_000);
  t.is(p.failure(), undefined);
});

test('an identity fails the certificates condition only after the grace without a valid certificate', (t) => {
  const now = Date.now();
  const lacking = [{ identity: 'spiffe://td/ns/a/sa/b', since: now - 9_000, reason: 'ca_unavailable' }];
  const condition = certificatesCondition({ lacking: () => lacking });
  t.is(condition(), undefined);
  lacking.push({ identity: 'spiffe://td/ns/a/sa/c', since: now - CERT_NOT_READY_AFTER_MS, reason: 'unauthenticated' }, { identity: 'spiffe://td/ns/a/sa/d', since: now - 60_000, reason: 'ca_unavailable' });
  t.regex(condition()!, /^no valid certificate for spiffe:\/\/td\/ns\/a\/sa\/c since \S+ \(unauthenticated\) and 1 more$/);
});
