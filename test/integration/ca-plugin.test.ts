import test from 'ava';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyAndCsr } from '../../agent/identity/csr.js';
import { callCa, openssl, removeDir, startCa, tempDir, WORKLOAD, WORKLOAD_TOKEN, writeTokens } from './ca-support.js';

/** An operator's root and intermediate made with OpenSSL, the way Istio's cert tooling does. */
function makeRoot(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}-key.pem`), '-out', join(dir, `${name}-cert.pem`),
    '-days', '3650', '-subj', `/O=Istio/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function makeIntermediate(dir: string, rootName: string, days: number): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(dir, 'ca-key.pem')]);
  openssl(['req', '-new', '-key', join(dir, 'ca-key.pem'), '-subj', '/O=Istio/CN=Intermediate CA', '-out', join(dir, 'ca.csr')]);
  writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  openssl(['x509', '-req', '-in', join(dir, 'ca.csr'), '-CA', join(dir, `${rootName}-cert.pem`), '-CAkey', join(dir, `${rootName}-key.pem`),
    '-CAcreateserial', '-days', String(days), '-extfile', join(dir, 'ext.cnf'), '-out', join(dir, 'ca-cert.pem')]);
}

/** DIR with the four plug-in files; the root key stays outside it, as in a real deployment. */
function pluginDir(work: string, name: string, files: string[], rootCert = 'root-cert.pem'): string {
  const dir = join(work, name);
  mkdirSync(dir);
  for (const f of files) {
    if (f === 'cert-chain.pem') writeFileSync(join(dir, f), readFileSync(join(work, 'ca-cert.pem'), 'utf8') + readFileSync(join(work, 'root-cert.pem'), 'utf8'));
    else copyFileSync(join(work, f === 'root-cert.pem' ? rootCert : f), join(dir, f));
  }
  return dir;
}

let work: string;

test.before(() => {
  work = tempDir('mn-ca-plugin-');
  makeRoot(work, 'root');
  makeRoot(work, 'other');
  makeIntermediate(work, 'root', 2);
});

test.after.always(() => removeDir(work));

const ALL = ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem'];

test('a plug-in set with an intermediate yields [leaf, intermediate, root] that openssl verifies', async (t) => {
  const ca = await startCa(pluginDir(work, 'full', ALL), ['--tokens', writeTokens(work)]);
  t.teardown(() => ca.stop());
  const root = readFileSync(join(work, 'root-cert.pem'), 'utf8');
  const res = await callCa(ca.port, root, { csr: (await generateKeyAndCsr(WORKLOAD)).csrPem, token: WORKLOAD_TOKEN, ttlSeconds: 3600 });
  if (!res.ok) return t.fail(res.details);
  t.is(res.chain.length, 3);
  const [leaf, inter, top] = res.chain.map((p) => new X509Certificate(p));
  t.true(inter!.subject.includes('CN=Intermediate CA'));
  t.is(top!.fingerprint256, new X509Certificate(root).fingerprint256);
  t.true(leaf!.checkIssued(inter!));
  writeFileSync(join(work, 'leaf.pem'), res.chain[0]!);
  writeFileSync(join(work, 'inter.pem'), res.chain[1]!);
  const out = openssl(['verify', '-CAfile', join(work, 'root-cert.pem'), '-untrusted', join(work, 'inter.pem'), join(work, 'leaf.pem')]);
  t.regex(out, /leaf\.pem: OK/);
});

test('no leaf outlives the signing certificate', async (t) => {
  const ca = await startCa(pluginDir(work, 'clamp', ALL), ['--tokens', writeTokens(work)]);
  t.teardown(() => ca.stop());
  const root = readFileSync(join(work, 'root-cert.pem'), 'utf8');
  const res = await callCa(ca.port, root, { csr: (await generateKeyAndCsr(WORKLOAD)).csrPem, token: WORKLOAD_TOKEN, ttlSeconds: 30 * 86_400 });
  if (!res.ok) return t.fail(res.details);
  t.is(new X509Certificate(res.chain[0]!).validTo, new X509Certificate(res.chain[1]!).validTo);
});

const broken: { title: string; files: string[]; root?: string; error: RegExp }[] = [
  { title: 'a partial plug-in set names the missing files', files: ['ca-cert.pem', 'ca-key.pem'], error: /partial Istio plug-in CA set: missing cert-chain\.pem, root-cert\.pem/ },
  { title: 'a chain that does not reach root-cert.pem', files: ALL, root: 'other-cert.pem', error: /does not reach a certificate in root-cert\.pem/ },
];

for (const b of broken) {
  test(`${b.title} is a startup error`, async (t) => {
    const err = await t.throwsAsync(startCa(pluginDir(work, `broken-${broken.indexOf(b)}`, b.files, b.root)));
    t.regex(err!.message, /exited with 1/);
    t.regex(err!.message, b.error);
  });
}

test('a CA key that does not match ca-cert.pem is a startup error', async (t) => {
  const dir = pluginDir(work, 'mismatch', ALL);
  copyFileSync(join(work, 'other-key.pem'), join(dir, 'ca-key.pem'));
  const err = await t.throwsAsync(startCa(dir));
  t.regex(err!.message, /CA key does not match the signing certificate/);
});
