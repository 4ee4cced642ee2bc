import test from 'ava';
import { secureContextFor } from '../../agent/tunnel/tls-config.js';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { connect, TLSSocket } from 'node:tls';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { registry } from '../../metrics/registry.js';
import { checkCsr } from '../../agent/ca/csr-check.js';
import { loadKeyMaterial } from '../../agent/ca/key-material.js';
import { Signer } from '../../agent/ca/signer.js';
import { caApi, metadataString, type IstioCertificateRequest__Output, type IstioCertificateResponse } from '../../agent/ca/ca-api.js';
import { createCertManager, type CertManager, type CertManagerOptions, type WorkloadCert } from '../../agent/identity/cert-manager.js';
import { asSpiffeId, type SpiffeId } from '../../agent/base/spiffe-id.js';
import { eventually } from '../helpers/eventually.js';
import { NODE_TOKEN, openssl, recordingLogger, removeDir, startCa, tempDir, writeTokens, type CaProcess } from './ca-support.js';

const id = (text: string): SpiffeId => asSpiffeId(text)!;
const CART = id('spiffe://cluster.local/ns/shop/sa/cart');
const WEB = id('spiffe://cluster.local/ns/shop/sa/web');
const RATINGS = id('spiffe://cluster.local/ns/reviews/sa/ratings');

function manager(t: { teardown(fn: () => unknown): void }, work: string, port: number, extra: Partial<CertManagerOptions> = {}): CertManager {
  const tokenFile = join(work, 'token');
  if (!existsSync(tokenFile)) writeFileSync(tokenFile, NODE_TOKEN + '\n');
  const m = createCertManager({
    node: 'node-1', caAddress: { host: '127.0.0.1', port }, caRootFile: join(work, 'ca', 'root-cert.pem'),
    tokenFile, clusterId: 'Kubernetes', certTtlMs: 3_600_000, certDir: join(work, 'certs'), log: recordingLogger(), ...extra,
  });
  t.teardown(() => m.close());
  return m;
}

function setup(t: { teardown(fn: () => unknown): void }, prefix: string): string {
  const work = tempDir(prefix);
  t.teardown(() => removeDir(work));
  return work;
}

/** `meshnode ca` in `work/ca` accepting the node token, stopped at teardown. */
async function startTokenCa(t: { teardown(fn: () => unknown): void }, work: string): Promise<CaProcess> {
  const ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)]);
  t.teardown(() => ca.stop());
  return ca;
}

// Serial: the expiry gauge is process-wide, and the other tests here hold the same identities.
test.serial('the manager holds one certificate per identity from meshnode ca and writes the Istio file layout', async (t) => {
  const work = setup(t, 'mn-cm-files-');
  const ca = await startTokenCa(t, work);
  const m = manager(t, work, ca.port);
  m.setIdentities([CART, WEB, RATINGS]);
  const certs = await Promise.all([CART, WEB, RATINGS].map((i) => m.fetch(i, 10_000)));
  t.deepEqual(certs.map((c) => c.id), [CART, WEB, RATINGS]);
  const dir = join(work, 'certs', 'shop', 'cart');
  t.is(statSync(join(dir, 'key.pem')).mode & 0o777, 0o600);
  t.is(readFileSync(join(dir, 'key.pem'), 'utf8'), certs[0]!.keyPem);
  t.regex(openssl(['verify', '-CAfile', join(dir, 'root-cert.pem'), join(dir, 'cert-chain.pem')]), /: OK/);
  const status = m.status().find((s) => s.identity === CART)!;
  t.is(status.state, 'available');
  t.is(status.serial, certs[0]!.serial);
  t.is(status.lastError, null);
  t.true(Date.parse(status.nextRefresh!) > Date.now());
  const gauge = await registry.getSingleMetricAsString('meshnode_identity_cert_expiry_timestamp_seconds');
  t.true(gauge.includes(`identity="${CART}"} ${certs[0]!.notAfter.getTime() / 1000}`), gauge);
  t.deepEqual(m.trustBundle(), [readFileSync(join(work, 'ca', 'root-cert.pem'), 'utf8')]);
});

/**
 * The data plane's TLS contexts built from two issued certificates. tls.Server ignores a
 * `secureContext` option, so the server side wraps accepted sockets itself.
 */
function handshake(server: WorkloadCert, client: WorkloadCert): Promise<{ protocol: string | null; cipher: string; peerUri: string }> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer((raw) => {
      const s = new TLSSocket(raw, { isServer: true, secureContext: secureContextFor(server, server.rootsPem), requestCert: true, rejectUnauthorized: true });
      s.on('secure', () => {
        resolve({ protocol: s.getProtocol(), cipher: s.getCipher().standardName, peerUri: s.getPeerX509Certificate()?.subjectAltName ?? '' });
        s.end();
      });
      s.on('error', reject);
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const c = connect({ port, host: '127.0.0.1', secureContext: secureContextFor(client, client.rootsPem), checkServerIdentity: () => undefined });
      c.on('error', reject);
      c.on('close', () => srv.close());
    });
  });
}

test('two workload secure contexts complete a mutual TLS 1.3 AES-GCM handshake', async (t) => {
  const work = setup(t, 'mn-cm-tls-');
  const ca = await startTokenCa(t, work);
  const m = manager(t, work, ca.port);
  m.setIdentities([CART, WEB]);
  const [cart, web] = await Promise.all([m.fetch(CART, 10_000), m.fetch(WEB, 10_000)]);
  const result = await handshake(cart!, web!);
  t.is(result.protocol, 'TLSv1.3');
  t.regex(result.cipher, /^TLS_AES_(128|256)_GCM_SHA(256|384)$/);
  t.is(result.peerUri, `URI:${WEB}`);
});

test('an identity removed from the desired set loses its certificate and files', async (t) => {
  const work = setup(t, 'mn-cm-drop-');
  const ca = await startTokenCa(t, work);
  const m = manager(t, work, ca.port);
  m.setIdentities([CART, WEB]);
  await Promise.all([m.fetch(CART, 10_000), m.fetch(WEB, 10_000)]);
  m.setIdentities([WEB]);
  t.is(m.current(CART), undefined);
  t.false(existsSync(join(work, 'certs', 'shop', 'cart')));
  t.true(existsSync(join(work, 'certs', 'shop', 'web', 'key.pem')));
  t.deepEqual(m.status().map((s) => s.identity), [WEB]);
});

test('a short-lived certificate is rotated before it expires', async (t) => {
  const work = setup(t, 'mn-cm-rotate-');
  const ca = await startTokenCa(t, work);
  const m = manager(t, work, ca.port, { certTtlMs: 4_000 });
  const rotations: WorkloadCert[] = [];
  m.onRotate((_, cert) => rotations.push(cert));
  m.setIdentities([CART]);
  const first = await m.fetch(CART, 10_000);
  await eventually(() => { if (rotations.length < 2) throw new Error(`${rotations.length} rotation(s)`); }, 8_000);
  const second = rotations[1]!;
  t.not(second.serial, first.serial);
  t.true(Date.now() < first.notAfter.getTime(), 'renewed before the first certificate expired');
  t.is(m.current(CART)?.serial, second.serial);
  t.not(readFileSync(join(work, 'certs', 'shop', 'cart', 'key.pem'), 'utf8'), first.keyPem);
});

test('with the CA stopped the manager keeps its certificate, backs off, and recovers when the CA returns', async (t) => {
  const work = setup(t, 'mn-cm-outage-');
  let ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)]);
  t.teardown(() => ca.stop());
  const port = ca.port;
  const records: Record<string, unknown>[] = [];
  const m = manager(t, work, port, { certTtlMs: 8_000, log: recordingLogger(records) });
  m.setIdentities([CART]);
  const first = await m.fetch(CART, 10_000);
  await ca.stop();
  const failing = await eventually(() => {
    const s = m.status()[0]!;
    if (s.attempts < 2) throw new Error(`attempts ${s.attempts}`);
    return s;
  }, 8_000);
  t.regex(failing.lastError!, /^ca_unavailable: /);
  t.is(failing.state, 'available', 'still serving the valid certificate');
  t.is(m.current(CART)?.serial, first.serial);
  const kept = records.filter((r) => r.msg === 'certificate request failed');
  t.true(kept.length >= 2 && kept.every((r) => r.keptCertificateUntil === first.notAfter.toISOString()));
  t.true(kept.every((r) => Date.parse(r.retryAt as string) <= first.notAfter.getTime()), 'retries due no later than the kept certificate expires');
  ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)], `127.0.0.1:${port}`);
  const recovered = await eventually(() => {
    const s = m.status()[0]!;
    if (s.serial === first.serial || s.attempts !== 0) throw new Error('not yet recovered');
    return s;
  }, 10_000);
  t.is(recovered.lastError, null);
  t.is(m.current(CART)?.serial, recovered.serial ?? undefined);
  const failures = await registry.getSingleMetricAsString('meshnode_identity_csr_failures_total');
  t.regex(failures, /reason="ca_unavailable"} [1-9]/);
});

// Issue #15 item 11c: after an outage a waiting connection sat out the backoff (68 s of failed
// traffic after the CA returned); now the caller brings the retry forward, once a second at most.
const LONG_BACKOFF = { initialMs: 60_000, maxMs: 60_000, jitter: 0 };

test('a caller waiting for a certificate in backoff brings the retry forward when the CA is back', async (t) => {
  const work = setup(t, 'mn-cm-hurry-');
  let ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)]);
  const port = ca.port;
  await ca.stop();
  const m = manager(t, work, port, { backoff: LONG_BACKOFF });
  m.setIdentities([CART]);
  await eventually(() => { if (m.status()[0]!.attempts < 1) throw new Error('not yet failed'); }, 8_000);
  ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)], `127.0.0.1:${port}`);
  t.teardown(() => ca.stop());
  const started = Date.now();
  const cert = await m.fetch(CART, 8_000);
  t.is(cert.id, CART);
  t.true(Date.now() - started < 5_000, 'well before the 60 s backoff ends');
});

test('however many callers wait, an identity in backoff is retried at most about once a second', async (t) => {
  const work = setup(t, 'mn-cm-flood-');
  const ca = await startTokenCa(t, work);
  writeFileSync(join(work, 'token'), 'an-unknown-token-0123456789');
  const m = manager(t, work, ca.port, { backoff: LONG_BACKOFF });
  m.setIdentities([CART]);
  await eventually(() => { if (m.status()[0]!.attempts < 1) throw new Error('not yet failed'); }, 8_000);
  const floodMs = 3_000;
  const until = Date.now() + floodMs;
  const calls: Promise<unknown>[] = [];
  while (Date.now() < until) {
    for (let i = 0; i < 20; i++) calls.push(m.fetch(CART, 50).catch(() => undefined));
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(calls);
  const attempts = m.status()[0]!.attempts;
  t.true(calls.length > 1_000, `${calls.length} callers`);
  t.true(attempts >= 2 && attempts <= 1 + floodMs / 1_000 + 1, `${attempts} attempts`);
});

test('a token the CA does not know leaves the identity unavailable with the reason', async (t) => {
  const work = setup(t, 'mn-cm-token-');
  const ca = await startTokenCa(t, work);
  writeFileSync(join(work, 'token'), 'an-unknown-token-0123456789');
  const m = manager(t, work, ca.port);
  m.setIdentities([CART]);
  // The first refusal must be back before the wait ends, on a loaded machine too.
  await t.throwsAsync(m.fetch(CART, 5_000), { message: /no certificate .* \(last error: CA: UNAUTHENTICATED/ });
  t.is(m.status()[0]!.state, 'unavailable');
});

/**
 * A real misbehaving CA: a second gRPC server signing with the CA files in `caDir`, but for the
 * identity `issueAs` returns instead of the one requested.
 */
async function rogueCa(t: { teardown(fn: () => unknown): void }, caDir: string, issueAs: (requested: string) => string, delayMs = 0, answered = () => {}): Promise<number> {
  const signer = new Signer(loadKeyMaterial(caDir, 'cluster.local', recordingLogger()), { defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000 });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const serving = signer.issueServing(publicKey.export({ type: 'spki', format: 'der' }), { ips: ['127.0.0.1'] }, 3_600_000);
  const server = new grpc.Server();
  server.addService(caApi().service, {
    CreateCertificate: (call: grpc.ServerUnaryCall<IstioCertificateRequest__Output, IstioCertificateResponse>, cb: grpc.sendUnaryData<IstioCertificateResponse>) => {
      const requested = metadataString(call.request.metadata, 'ImpersonatedIdentity')!;
      const { spki } = checkCsr(call.request.csr, requested);
      const chain = signer.issueWorkload(spki, issueAs(requested), 3600).chain;
      setTimeout(() => { cb(null, { cert_chain: chain }); answered(); }, delayMs);
    },
  });
  const creds = grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), cert_chain: Buffer.from(serving.chain[0]!) }]);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  return port;
}

/** The first identity's first recorded error, waiting up to 5 s for one. */
function firstError(m: CertManager): Promise<string> {
  return eventually(() => {
    const err = m.status()[0]!.lastError;
    if (!err) throw new Error('no error yet');
    return err;
  }, 5_000);
}

test('a CA response whose leaf names another identity is rejected and never used', async (t) => {
  const work = setup(t, 'mn-cm-rogue-');
  const caDir = join(work, 'ca');
  const real = await startCa(caDir, ['--tokens', writeTokens(work)]);
  await real.stop();
  const port = await rogueCa(t, caDir, () => 'spiffe://cluster.local/ns/shop/sa/admin');
  const m = manager(t, work, port);
  m.setIdentities([CART]);
  t.regex(await firstError(m), /^wrong_identity: leaf names spiffe:\/\/cluster\.local\/ns\/shop\/sa\/admin instead of/);
  t.is(m.current(CART), undefined);
  t.false(existsSync(join(work, 'certs', 'shop', 'cart')));
  const failures = await registry.getSingleMetricAsString('meshnode_identity_csr_failures_total');
  t.regex(failures, /reason="wrong_identity"} [1-9]/);
});

test('a response that chains to a root outside the trust bundle is rejected', async (t) => {
  const work = setup(t, 'mn-cm-untrusted-');
  const other = await startCa(join(work, 'other-ca'), []);
  await other.stop();
  const real = await startCa(join(work, 'ca'), []);
  await real.stop();
  // The rogue CA is reachable (its serving cert verifies with --ca-root) but signs with a root
  // the node does not trust for peers.
  const port = await rogueCa(t, join(work, 'other-ca'), (requested) => requested);
  const m = manager(t, work, port, { caRootFile: join(work, 'other-ca', 'root-cert.pem'), trustBundleFile: join(work, 'ca', 'root-cert.pem') });
  m.setIdentities([CART]);
  t.regex(await firstError(m), /^untrusted_chain: /);
  t.is(m.current(CART), undefined);
  t.true(new X509Certificate(m.trustBundle()[0]!).subject.includes('cluster.local'));
});

test('a CA whose serving certificate does not name the address dialled is not trusted', async (t) => {
  const work = setup(t, 'mn-cm-name-');
  const ca = await startTokenCa(t, work);
  // Listening on 127.0.0.1 without --hostname: the serving certificate names only that IP.
  const m = manager(t, work, ca.port, { caAddress: { host: 'localhost', port: ca.port } });
  m.setIdentities([CART]);
  t.regex(await firstError(m), /^ca_unavailable: .*(altnames|ERR_TLS_CERT_ALTNAME_INVALID)/);
  t.is(m.current(CART), undefined);
});

test('a trust bundle rewritten on disk is picked up without a restart', async (t) => {
  const work = setup(t, 'mn-cm-bundle-');
  const ca = await startTokenCa(t, work);
  const other = await startCa(join(work, 'other'), []);
  await other.stop();
  const root = readFileSync(join(work, 'ca', 'root-cert.pem'), 'utf8');
  const bundle = join(work, 'bundle.pem');
  writeFileSync(bundle, root);
  const m = manager(t, work, ca.port, { trustBundleFile: bundle });
  m.setIdentities([CART]);
  await m.fetch(CART, 10_000);
  t.deepEqual(m.trustBundle(), [root]);
  writeFileSync(bundle, root + readFileSync(join(work, 'other', 'root-cert.pem'), 'utf8'));
  await eventually(() => { if (m.trustBundle().length !== 2) throw new Error('old bundle'); }, 6_000);
  t.is(m.trustBundle()[0], root);
});

test('an identity removed while its request is in flight is forgotten: the late answer is discarded', async (t) => {
  const work = setup(t, 'mn-cm-forget-');
  const caDir = join(work, 'ca');
  await (await startCa(caDir, [])).stop();
  let answers = 0;
  const port = await rogueCa(t, caDir, (requested) => requested, 700, () => answers++);
  const records: Record<string, unknown>[] = [];
  const m = manager(t, work, port, { log: recordingLogger(records) });
  const rotations: string[] = [];
  m.onRotate((rotated) => rotations.push(rotated));
  m.setIdentities([CART]);
  const waiting = m.fetch(CART, 5_000);
  await eventually(() => { if (!m.status()[0]?.fetching) throw new Error('not in flight yet'); }, 3_000);
  m.setIdentities([]);
  await t.throwsAsync(waiting, { message: /no longer needed/ });
  await eventually(() => { if (answers === 0) throw new Error('CA has not answered yet'); }, 3_000);
  await eventually(() => {
    if (!records.some((r) => r.msg === 'discarded answer for a forgotten identity' && r.identity === CART)) throw new Error('answer not handled yet');
  }, 3_000);
  t.deepEqual(m.status(), []);
  t.deepEqual(rotations, []);
  t.false(existsSync(join(work, 'certs', 'shop', 'cart')));
});
