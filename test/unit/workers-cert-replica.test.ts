import test from 'ava';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import type { Verdict } from '../../agent/identity/index.js';
import { CertReplica } from '../../agent/workers/cert-replica.js';
import { TestCa } from '../helpers/test-ca.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/web' as SpiffeId;

test('a worker asks the main thread once for a certificate it lacks, however many connections wait, and hands it out once pushed', async (t) => {
  const ca = new TestCa('replica-ca');
  t.teardown(() => ca.dispose());
  const asked: SpiffeId[] = [];
  const replica = new CertReplica((id) => asked.push(id));
  const waiting = [replica.fetch(ID, 5_000), replica.fetch(ID, 5_000)];
  t.deepEqual(asked, [ID]);
  const cert = { ...ca.issue([ID]), id: ID };
  let rotated = 0;
  replica.onRotate(() => rotated++);
  replica.put(cert, false);
  for (const got of await Promise.all(waiting)) t.is(got.serial, cert.serial);
  t.is(replica.current(ID)?.serial, cert.serial);
  t.is(rotated, 0, 'an answer to a request is not a rotation');
  replica.put({ ...ca.issue([ID]), id: ID }, true);
  t.is(rotated, 1);
});

test('a failure on the main thread fails every waiter with its message; a timeout fails one and a later fetch asks again', async (t) => {
  const asked: SpiffeId[] = [];
  const replica = new CertReplica((id) => asked.push(id));
  const waiting = replica.fetch(ID, 5_000);
  replica.failed(ID, 'no certificate for web within 5000 ms (last error: CA unreachable)');
  await t.throwsAsync(waiting, { code: 'ERR_WORKER', message: /CA unreachable/ });
  await t.throwsAsync(replica.fetch(ID, 20), { message: /within 20 ms/ });
  t.is(asked.length, 2);
  void replica.fetch(ID, 5_000).catch(() => undefined);
  t.is(asked.length, 3);
  replica.close();
});

test('an expired certificate or one the CRLs now revoke is not handed out', (t) => {
  const ca = new TestCa('replica-ca2');
  t.teardown(() => ca.dispose());
  const replica = new CertReplica(() => undefined);
  const cert = { ...ca.issue([ID]), id: ID };
  replica.put({ ...cert, notAfter: new Date(Date.now() - 1000) }, false);
  t.is(replica.current(ID), undefined);
  replica.put(cert, false);
  const good: Verdict = { status: 'good' };
  replica.recheck({ check: () => good });
  t.truthy(replica.current(ID));
  const revoked: Verdict = { status: 'revoked', serial: cert.serial, depth: 0, reason: 'keyCompromise', why: 'revoked' };
  replica.recheck({ check: () => revoked });
  t.is(replica.current(ID), undefined);
  // The replacement the main thread pushes is handed out again.
  replica.put({ ...ca.issue([ID]), id: ID }, true);
  t.truthy(replica.current(ID));
});
