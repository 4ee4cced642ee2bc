import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkCsr } from '../../agent/ca/csr-check.js';
import { loadKeyMaterial } from '../../agent/ca/key-material.js';
import { Signer } from '../../agent/ca/signer.js';
import { buildCsr } from '../../agent/identity/csr.js';
import { children, decodeOid, read, readExactly, type DerNode } from '../../agent/base/der.js';
import { pemBlocks, pemDecodeStrict, pemEncode } from '../../agent/base/pem.js';
import { parseRoots } from '../../agent/identity/trust-bundle.js';
import { verifyResponse } from '../../agent/identity/verify-response.js';
import { certificateFields, certificateUris } from '../../agent/base/x509.js';
import { createLogger } from '../../agent/telemetry/log.js';

// Issue #15: the DER, CSR and PEM parsers face input from the network. Seeded, bounded fuzzing
// of mutated valid CSRs, certificates and PEM text and of generated junk: only the project's
// coded errors may escape, no call may take long, and every CSR the CA accepts still yields a
// certificate that satisfies the issuance rules, checked independently of meshnode's own code.

const SEED = 0x15eed;
const CASES = { csr: 900, cert: 700, pem: 700, der: 700 };
const CALL_BOUND_MS = 100;
const CODED = new Set(['ERR_PEM', 'ERR_DER', 'ERR_CA_REQUEST', 'ERR_IDENTITY']);
const ID = 'spiffe://cluster.local/ns/shop/sa/cart';

/** mulberry32: small, fast and the same sequence on every run for a seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xff, 0x30, 0x31, 0x04, 0x06, 0xa0, 0xa3];

function mutateBytes(input: Buffer, donors: readonly Buffer[]): Buffer {
  const b = Buffer.from(input);
  const at = int(Math.max(1, b.length));
  switch (int(7)) {
    case 0: for (let i = 1 + int(4); i > 0; i--) b[int(b.length)]! ^= 1 << int(8); return b;
    case 1: b[at] = pick(INTERESTING); return b;
    case 2: return b.subarray(0, at);
    case 3: return Buffer.concat([b.subarray(0, at), randomBytes(1 + int(16)), b.subarray(at)]);
    case 4: return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(32))]);
    case 5: { const end = at + 1 + int(64); return Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]); }
    default: { const donor = pick(donors); const from = int(donor.length); return Buffer.concat([b.subarray(0, at), donor.subarray(from, from + 1 + int(128))]); }
  }
}

const PEM_TOKENS = ['-----BEGIN A-----', '-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '-----BEGIN CERTIFICATE REQUEST-----',
  '-----END CERTIFICATE REQUEST-----', '-----', '\n', '\r\n', ' ', '=', '==', '%', 'QUFB', 'MIIB', '# comment\n', '\u0000', 'é'];

function mutatePem(pem: string, der: Buffer, label: string, donors: readonly Buffer[]): string {
  const at = int(pem.length + 1);
  switch (int(6)) {
    case 0: return pemEncode(mutateBytes(der, donors), label);
    case 1: return pem.slice(0, at) + pem.slice(at + 1 + int(40));
    case 2: return pem.slice(0, at) + Array.from({ length: 1 + int(4) }, () => pick(PEM_TOKENS)).join('') + pem.slice(at);
    case 3: return pem.replace(label, pick(['CERTIFICATE', 'CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST', 'X', 'certificate']));
    case 4: return pem.repeat(1 + int(3));
    default: return `${pick(PEM_TOKENS)}${pem}${pick(PEM_TOKENS)}`;
  }
}

function junkPem(): string {
  return Array.from({ length: int(200) }, () => (random() < 0.7 ? pick(PEM_TOKENS) : randomBytes(1 + int(8)).toString('base64'))).join('');
}

interface Tally { calls: number; refused: number; accepted: number; slowest: number }

/** Milliseconds one call of `fn` takes, whatever it throws. */
function timed(fn: () => unknown): number {
  const started = performance.now();
  try {
    fn();
  } catch {
    // Only the time matters here.
  }
  return performance.now() - started;
}

/**
 * Runs `fn`: a result, or one of the coded errors; anything else, or a slow call, fails the case.
 * A slow call is timed once more before it counts: the parsers are deterministic, so input that
 * is slow to parse is slow twice, while a GC pause or a preempted test process is not.
 */
function guarded<T>(tally: Tally, what: string, fn: () => T): T | undefined {
  const started = performance.now();
  try {
    const out = fn();
    tally.accepted++;
    return out;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !CODED.has(code)) throw new Error(`${what}: uncoded ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
    tally.refused++;
    return undefined;
  } finally {
    const ms = performance.now() - started;
    tally.calls++;
    tally.slowest = Math.max(tally.slowest, ms);
    if (ms > CALL_BOUND_MS && timed(fn) > CALL_BOUND_MS) throw new Error(`${what}: took ${ms.toFixed(1)} ms, twice`);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'mn-fuzz-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const signer = new Signer(loadKeyMaterial(join(dir, 'ca'), 'cluster.local', createLogger('fuzz')), { defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000 });
const signerCert = signer.material.signerCert;
const roots = parseRoots(signer.material.rootsPem.join(''), 'fuzz roots');

function keyPair(type: 'ec' | 'rsa', param: string | number) {
  const pair = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: String(param) }) : generateKeyPairSync('rsa', { modulusLength: Number(param) });
  return { ...pair, spki: pair.publicKey.export({ type: 'spki', format: 'der' }) };
}

const keys = [keyPair('ec', 'prime256v1'), keyPair('ec', 'secp384r1'), keyPair('rsa', 2048)];
const csrDers = keys.map((k) => pemDecodeStrict(buildCsr(k.privateKey, k.spki, ID), ['CERTIFICATE REQUEST'])[0]!);
const leafChain = signer.issueWorkload(keys[0]!.spki, ID, 3600).chain;
const certDers = [...leafChain, ...signer.material.rootsPem].map((p) => pemDecodeStrict(p, ['CERTIFICATE'])[0]!);
const donors = [...csrDers, ...certDers];

/** Independent checks of a certificate issued for an accepted CSR: node:crypto's X.509 parser, not ours. */
function checkIssued(spki: Buffer, keyType: string): void {
  const leaf = new X509Certificate(signer.issueWorkload(spki, ID, 3600).chain[0]!);
  if (leaf.subjectAltName !== `URI:${ID}`) throw new Error(`issued SAN ${leaf.subjectAltName}`);
  if (leaf.ca || !leaf.checkIssued(signerCert) || !leaf.verify(signerCert.publicKey)) throw new Error('issued leaf does not chain to the signer');
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(spki)) throw new Error('issued leaf carries another key');
  const d = leaf.publicKey.asymmetricKeyDetails ?? {};
  const allowed = leaf.publicKey.asymmetricKeyType === 'ec'
    ? ['prime256v1', 'secp384r1'].includes(d.namedCurve ?? '')
    : leaf.publicKey.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048 && (d.modulusLength ?? 0) <= 8192;
  if (!allowed) throw new Error(`issued for a key the rules do not allow: ${keyType}`);
}

test('fuzzed CSRs: the CA refuses with its coded error or issues within the rules', (t) => {
  const tally: Tally = { calls: 0, refused: 0, accepted: 0, slowest: 0 };
  const accepted = new Map<string, Buffer>();
  for (let i = 0; i < CASES.csr; i++) {
    const der = pick(csrDers);
    const pem = random() < 0.1 ? junkPem() : mutatePem(pemEncode(der, 'CERTIFICATE REQUEST'), der, 'CERTIFICATE REQUEST', donors);
    const checked = guarded(tally, `csr case ${i}`, () => checkCsr(pem, ID));
    if (!checked) continue;
    checkIssued(checked.spki, checked.keyType);
    const blocks = pemBlocks(pem, true);
    accepted.set(createHash('sha256').update(blocks[0]!.der).digest('hex'), blocks[0]!.der);
  }
  // Every distinct CSR the CA accepted is one OpenSSL also accepts: parsed, self-signature good.
  for (const der of accepted.values()) {
    const r = spawnSync('openssl', ['req', '-inform', 'DER', '-verify', '-noout'], { input: der, encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr + r.stdout, /verify OK/);
  }
  t.true(tally.refused > CASES.csr / 2 && tally.accepted > 0, JSON.stringify(tally));
  t.log(`csr: ${JSON.stringify(tally)}, ${accepted.size} distinct accepted`);
});

test('fuzzed certificates: the X.509 reader and the response check throw only coded errors', (t) => {
  const tally: Tally = { calls: 0, refused: 0, accepted: 0, slowest: 0 };
  for (let i = 0; i < CASES.cert; i++) {
    const der = mutateBytes(pick(certDers), donors);
    guarded(tally, `cert fields case ${i}`, () => certificateFields(der));
    guarded(tally, `cert uris case ${i}`, () => certificateUris(der));
    const leaf = random() < 0.5 ? pemEncode(der, 'CERTIFICATE') : mutatePem(leafChain[0]!, der, 'CERTIFICATE', donors);
    const verified = guarded(tally, `response case ${i}`, () => verifyResponse([leaf, leafChain[1]!], { id: ID, spki: keys[0]!.spki, roots, now: Date.now() }));
    if (verified) t.deepEqual(certificateUris(pemDecodeStrict(verified.chainPem[0]!, ['CERTIFICATE'])[0]!), [ID]);
  }
  t.true(tally.refused > 0, JSON.stringify(tally));
  t.log(`cert: ${JSON.stringify(tally)}`);
});

test('fuzzed PEM text: the scanner returns blocks or throws ERR_PEM, strict or not', (t) => {
  const tally: Tally = { calls: 0, refused: 0, accepted: 0, slowest: 0 };
  const texts = [...csrDers.map((d) => pemEncode(d, 'CERTIFICATE REQUEST')), ...certDers.map((d) => pemEncode(d, 'CERTIFICATE'))];
  for (let i = 0; i < CASES.pem; i++) {
    const base = pick(texts);
    const text = random() < 0.3 ? junkPem() : mutatePem(base, pick(donors), base.includes('REQUEST') ? 'CERTIFICATE REQUEST' : 'CERTIFICATE', donors);
    guarded(tally, `pem case ${i}`, () => pemBlocks(text));
    guarded(tally, `strict pem case ${i}`, () => pemBlocks(text, true));
    guarded(tally, `roots case ${i}`, () => parseRoots(text, 'fuzz'));
  }
  t.true(tally.refused > 0 && tally.accepted > 0, JSON.stringify(tally));
  t.log(`pem: ${JSON.stringify(tally)}`);
});

/** Walks every constructed element, decoding OIDs on the way (what the X.509 reader does). */
function walk(node: DerNode, depth = 0): number {
  if (node.tag === 0x06) decodeOid(node);
  if (!(node.tag & 0x20) || depth > 64) return 1;
  return children(node).reduce((n, c) => n + walk(c, depth + 1), 1);
}

test('fuzzed DER: the reader walks or throws ERR_DER', (t) => {
  const tally: Tally = { calls: 0, refused: 0, accepted: 0, slowest: 0 };
  for (let i = 0; i < CASES.der; i++) {
    const der = random() < 0.3 ? randomBytes(int(512)) : mutateBytes(pick(donors), donors);
    guarded(tally, `der case ${i}`, () => walk(read(der)));
    guarded(tally, `der exact case ${i}`, () => readExactly(der, 0x30, 'fuzz'));
  }
  t.true(tally.refused > 0 && tally.accepted > 0, JSON.stringify(tally));
  t.log(`der: ${JSON.stringify(tally)}`);
});
