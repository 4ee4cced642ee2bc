import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { parseCrlFile } from '../../agent/base/crl.js';
import { pemDecodeAll } from '../../agent/base/pem.js';
import { asSpiffeId, type SpiffeId } from '../../agent/base/spiffe-id.js';
import { createCertManager, Revocations, type CertManager } from '../../agent/identity/index.js';
import { caApi } from '../../agent/ca/ca-api.js';
import type { WorkloadCert } from '../../agent/identity/cert-manager.js';
import { eventually } from '../helpers/eventually.js';
import { runMeshnode } from '../helpers/meshnode-cli.js';
import { NODE_TOKEN, openssl, recordingLogger, removeDir, startCa, tempDir, writeTokens } from './ca-support.js';

/**
 * Revocation at the built-in CA, end to end on loopback: `meshnode ca revoke|unrevoke|revocations`
 * as processes against a running `meshnode ca`, the CRL it publishes checked by openssl, and a
 * certificate manager receiving the CA's push over its own channel.
 */

const id = (text: string): SpiffeId => asSpiffeId(text)!;
const CART = id('spiffe://cluster.local/ns/shop/sa/cart');
const WEB = id('spiffe://cluster.local/ns/shop/sa/web');

async function setup(t: { teardown(fn: () => unknown): void }, caArgs: string[] = []) {
  const work = tempDir('mn-revoke-');
  t.teardown(() => removeDir(work));
  const ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work), ...caArgs]);
  t.teardown(() => ca.stop());
  writeFileSync(join(work, 'token'), NODE_TOKEN);
  const caDir = join(work, 'ca');
  const root = join(caDir, 'root-cert.pem');
  const m = createCertManager({
    node: 'n1', caAddress: { host: '127.0.0.1', port: ca.port }, caRootFile: root, tokenFile: join(work, 'token'),
    clusterId: 'Kubernetes', certTtlMs: 3_600_000, log: recordingLogger(),
  });
  t.teardown(() => m.close());
  const revocations = new Revocations(() => m.trustBundle());
  m.useRevocations(revocations, true);
  return { work, ca, caDir, root, m, revocations };
}

/** For eventually(): throws (rather than failing the test) until `ok`. */
function until(ok: boolean, what: string): void {
  if (!ok) throw new Error(`still waiting for ${what}`);
}

const chainOf = (c: WorkloadCert) => [...c.chainPem, ...c.rootsPem].flatMap((p) => pemDecodeAll(p, 'CERTIFICATE'));

/** openssl's own verdict on `cert` with the CA's published CRL: true when it calls it revoked. */
function opensslSaysRevoked(work: string, caDir: string, cert: WorkloadCert, name: string): boolean {
  const file = join(work, `${name}.pem`);
  writeFileSync(file, cert.chainPem[0]!);
  try {
    openssl(['verify', '-crl_check', '-CAfile', join(caDir, 'root-cert.pem'), '-CRLfile', join(caDir, 'ca-crl.pem'), file]);
    return false;
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
    if (/certificate revoked/.test(out)) return true;
    throw err;
  }
}

async function held(m: CertManager, ...ids: SpiffeId[]): Promise<WorkloadCert[]> {
  m.setIdentities(ids);
  return Promise.all(ids.map((i) => m.fetch(i, 10_000)));
}

test('revoking a serial: the CA republishes a CRL openssl verifies, the push reaches the agent, openssl and the agent agree, the holder re-keys', async (t) => {
  const { work, caDir, root, m, revocations } = await setup(t);
  const [cart, web] = await held(m, CART, WEB);
  await eventually(() => until(Boolean(revocations.status().find((s) => s.source === 'ca')?.loadedAt), 'the first CRL push'), 5_000);
  const before = parseCrlFile(readFileSync(join(caDir, 'ca-crl.pem')))[0]!;

  const run = await runMeshnode(['ca', 'revoke', '--dir', caDir, '--serial', cart!.serial, '--reason', 'keyCompromise']);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, new RegExp(`revoked serial .* \\(${CART}`));
  await eventually(() => until(revocations.check(chainOf(cart!)).status === 'revoked', 'the CRL push'), 3_000);

  t.regex(openssl(['crl', '-in', join(caDir, 'ca-crl.pem'), '-CAfile', root, '-noout', '-verify']) + '', /verify OK|^$/);
  const after = parseCrlFile(readFileSync(join(caDir, 'ca-crl.pem')))[0]!;
  t.true(after.number! > before.number!);
  t.true(after.nextUpdate!.getTime() > after.thisUpdate.getTime());
  t.is(opensslSaysRevoked(work, caDir, cart!, 'cart'), true);
  t.is(opensslSaysRevoked(work, caDir, web!, 'web'), false);
  t.is(revocations.check(chainOf(web!)).status, 'good');

  const renewed = await eventually(() => {
    const now = m.current(CART);
    if (!now || now.serial === cart!.serial) throw new Error('not re-issued yet');
    return now;
  }, 5_000);
  t.is(revocations.check(chainOf(renewed)).status, 'good');
  t.is(m.status().find((s) => s.identity === CART)!.state, 'available');

  const list = await runMeshnode(['ca', 'revocations', '--dir', caDir, '-o', 'json']);
  t.like(JSON.parse(list.stdout), { identities: [], serials: [{ identity: CART, reason: 'keyCompromise' }] });
});

test('revoking an identity revokes its certificates and refuses new ones until unrevoke', async (t) => {
  const { caDir, m, revocations } = await setup(t);
  const [cart] = await held(m, CART);
  const run = await runMeshnode(['ca', 'revoke', '--dir', caDir, '--identity', CART]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /1 unexpired certificate/);
  await eventually(() => until(revocations.check(chainOf(cart!)).status === 'revoked', 'the CRL push'), 3_000);
  await eventually(() => {
    const s = m.status().find((e) => e.identity === CART)!;
    until(s.state === 'revoked' && /is revoked/.test(s.lastError ?? ''), 'the refused renewal');
  }, 5_000);
  t.is(m.current(CART), undefined);

  const text = await runMeshnode(['ca', 'revocations', '--dir', caDir]);
  t.regex(text.stdout, new RegExp(`revoked identities: 1\\n  ${CART}`));
  t.is((await runMeshnode(['ca', 'unrevoke', '--dir', caDir, '--identity', CART])).code, 0);
  const fresh = await m.fetch(CART, 10_000);
  t.not(fresh.serial, cart!.serial);
  t.is(revocations.check(chainOf(fresh)).status, 'good');
  t.is(revocations.check(chainOf(cart!)).status, 'revoked', 'what was revoked stays revoked');
});

test('revocations from commands run at once all land; bad input is named', async (t) => {
  const { caDir, m } = await setup(t);
  const ids = ['a', 'b', 'c', 'd'].map((n) => id(`spiffe://cluster.local/ns/shop/sa/${n}`));
  const certs = await held(m, ...ids);
  const runs = await Promise.all(certs.map((c) => runMeshnode(['ca', 'revoke', '--dir', caDir, '--serial', c.serial])));
  t.deepEqual(runs.map((r) => r.code), [0, 0, 0, 0]);
  const list = JSON.parse((await runMeshnode(['ca', 'revocations', '--dir', caDir, '-o', 'json'])).stdout) as { serials: { identity: string }[] };
  t.deepEqual(list.serials.map((s) => s.identity).sort(), [...ids].sort());

  const unknown = await runMeshnode(['ca', 'revoke', '--dir', caDir, '--serial', 'ABCDEF']);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /serial ABCDEF is not an unexpired certificate issued by the CA/);
  const both = await runMeshnode(['ca', 'revoke', '--dir', caDir, '--serial', '01', '--identity', CART]);
  t.is(both.code, 2);
  t.regex(both.stderr, /exactly one of --serial and --identity/);
  const reason = await runMeshnode(['ca', 'revoke', '--dir', caDir, '--identity', CART, '--reason', 'bored']);
  t.regex(reason.stderr, /--reason: "bored" is not one of/);
});

test('the CRL is re-signed before its nextUpdate', async (t) => {
  const { caDir } = await setup(t, ['--crl-validity', '4s']);
  const first = parseCrlFile(readFileSync(join(caDir, 'ca-crl.pem')))[0]!;
  const next = await eventually(() => {
    const crl = parseCrlFile(readFileSync(join(caDir, 'ca-crl.pem')))[0]!;
    if (crl.number === first.number) throw new Error('not re-signed yet');
    return crl;
  }, 6_000);
  t.true(next.thisUpdate.getTime() < first.nextUpdate!.getTime(), 're-signed while the first was still current');
  t.true(next.nextUpdate!.getTime() > first.nextUpdate!.getTime());
});

test('a plug-in CA whose certificate lacks cRLSign issues but refuses to sign CRLs, and says why', async (t) => {
  const work = tempDir('mn-revoke-nocrl-');
  t.teardown(() => removeDir(work));
  const dir = join(work, 'ca');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(work, 'root.key'), '-out', join(work, 'root.pem'),
    '-days', '2', '-subj', '/O=Istio/CN=root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(work, 'ca-key.pem'), '-subj', '/O=Istio/CN=Intermediate', '-out', join(work, 'ca.csr')]);
  // Istio's sample tooling makes intermediates like this: no cRLSign.
  writeFileSync(join(work, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature,nonRepudiation,keyEncipherment,keyCertSign\n');
  openssl(['x509', '-req', '-in', join(work, 'ca.csr'), '-CA', join(work, 'root.pem'), '-CAkey', join(work, 'root.key'), '-CAcreateserial', '-days', '2', '-extfile', join(work, 'ext.cnf'), '-out', join(work, 'ca-cert.pem')]);
  const { mkdirSync, copyFileSync } = await import('node:fs');
  mkdirSync(dir);
  copyFileSync(join(work, 'ca-cert.pem'), join(dir, 'ca-cert.pem'));
  copyFileSync(join(work, 'ca-key.pem'), join(dir, 'ca-key.pem'));
  copyFileSync(join(work, 'root.pem'), join(dir, 'root-cert.pem'));
  writeFileSync(join(dir, 'cert-chain.pem'), readFileSync(join(work, 'ca-cert.pem'), 'utf8') + readFileSync(join(work, 'root.pem'), 'utf8'));
  const ca = await startCa(dir, ['--tokens', writeTokens(work)]);
  t.teardown(() => ca.stop());
  t.truthy(ca.logs.find((l) => l.msg === 'revocation is disabled' && /without cRLSign/.test(String(l.reason))));
  t.false(existsSync(join(dir, 'ca-crl.pem')));
  const run = await runMeshnode(['ca', 'revoke', '--dir', dir, '--identity', CART]);
  t.is(run.code, 1);
  t.regex(run.stderr, /ca-cert\.pem.*keyUsage without cRLSign.*reissue it/);
});

test('WatchRevocations answers only callers the CA knows, and sends the current CRL first', async (t) => {
  const { ca, root } = await setup(t);
  const { RevocationClient } = caApi();
  const client = new RevocationClient(`127.0.0.1:${ca.port}`, grpc.credentials.createSsl(readFileSync(root)));
  t.teardown(() => client.close());
  const watch = (token: string) => new Promise<{ crl?: Buffer; code?: grpc.status }>((resolve) => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const call = (client as unknown as { WatchRevocations: (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ crl: Buffer }> }).WatchRevocations({}, md);
    call.on('data', (u: { crl: Buffer }) => { resolve({ crl: u.crl }); call.cancel(); });
    call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code }));
  });
  t.is((await watch('not-a-token-the-ca-knows')).code, grpc.status.UNAUTHENTICATED);
  const first = await watch(NODE_TOKEN);
  t.deepEqual(first.crl, parseCrlFile(readFileSync(join(ca.dir, 'ca-crl.pem')))[0]!.der);
});
