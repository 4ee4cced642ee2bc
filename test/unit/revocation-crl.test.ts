import test from 'ava';
import { execFileSync } from 'node:child_process';
import { parseCrl, parseCrlFile, verifyCrl, normalizeSerial } from '../../agent/base/crl.js';
import { pemDecodeAll } from '../../agent/base/pem.js';
import { Revocations } from '../../agent/identity/index.js';
import { TestCa } from '../helpers/test-ca.js';

/**
 * The CRL reader and the chain check, against CRLs made by `openssl ca -gencrl` — an
 * implementation independent of meshnode's own CRL writer.
 */

const der = (pem: string) => pemDecodeAll(pem, 'X509 CRL')[0] ?? pemDecodeAll(pem, 'CERTIFICATE')[0]!;
const chainOf = (pems: readonly string[]) => pems.flatMap((p) => pemDecodeAll(p, 'CERTIFICATE'));

function cas(t: { teardown(fn: () => void): void }) {
  const root = new TestCa('crl-root');
  const mid = new TestCa('crl-mid', { parent: root });
  const other = new TestCa('crl-other');
  t.teardown(() => { root.dispose(); mid.dispose(); other.dispose(); });
  return { root, mid, other };
}

test('an openssl CRL parses: issuer, times, number and each revoked serial with its reason', (t) => {
  const { root } = cas(t);
  const leaf = root.issue(['spiffe://cluster.local/ns/a/sa/a']);
  const crl = parseCrl(der(root.crl([{ serial: leaf.serial, reason: 'keyCompromise' }, { serial: '0A0B' }], 7)));
  t.is(crl.number, 7n);
  t.true(crl.nextUpdate!.getTime() > crl.thisUpdate.getTime());
  t.deepEqual([...crl.revoked.keys()].sort(), [normalizeSerial(leaf.serial), 'A0B'].sort());
  t.is(crl.revoked.get(normalizeSerial(leaf.serial))!.reason, 'keyCompromise');
  t.is(crl.revoked.get('A0B')!.reason, 'unspecified');
  t.is(verifyCrl(crl, der(root.rootPem)), undefined);
});

test('a CRL verifies only with its own issuer: another CA of the same name, or a flipped bit, fails', (t) => {
  const { root } = cas(t);
  const other = new TestCa('crl-root');
  t.teardown(() => other.dispose());
  const crl = parseCrl(der(root.crl([])));
  t.is(verifyCrl(crl, der(other.rootPem)), 'the CRL signature does not verify');
  const forged = Buffer.from(crl.der);
  forged[forged.length - 3]! ^= 1;
  t.regex(verifyCrl(parseCrl(forged), der(root.rootPem)) ?? '', /does not verify/);
  const mid = new TestCa('crl-mid', { parent: root });
  t.teardown(() => mid.dispose());
  t.is(verifyCrl(crl, der(mid.certPem)), 'the CRL issuer is not this certificate\'s subject');
});

test('an issuer whose keyUsage lacks cRLSign cannot sign CRLs', (t) => {
  const ca = new TestCa('no-crlsign', { keyUsage: 'keyCertSign' });
  t.teardown(() => ca.dispose());
  t.is(verifyCrl(parseCrl(der(ca.crl([]))), der(ca.rootPem)), 'the issuing CA certificate\'s key usage lacks cRLSign');
});

test('CRL files: PEM with several CRLs and other blocks, DER, empty; one bad CRL fails the file', (t) => {
  const { root, mid } = cas(t);
  const two = `# comment\n${root.crl([{ serial: '01' }])}${root.rootPem}${mid.crl([{ serial: '02' }])}`;
  t.is(parseCrlFile(Buffer.from(two)).length, 2);
  t.is(parseCrlFile(der(root.crl([]))).length, 1);
  t.deepEqual(parseCrlFile(Buffer.from('\n')), []);
  t.throws(() => parseCrlFile(Buffer.from(`${root.crl([])}-----BEGIN X509 CRL-----\nMAMCAQA=\n-----END X509 CRL-----\n`)), { message: /CRL 2/ });
  t.throws(() => parseCrlFile(Buffer.from('not a crl')));
});

test('the chain check: a revoked leaf or intermediate is found; a CRL of no issuer in the chain does not block', (t) => {
  const { root, mid, other } = cas(t);
  const leaf = mid.issue(['spiffe://cluster.local/ns/a/sa/a']);
  const chain = chainOf([...leaf.chainPem, root.rootPem]);
  const midSerial = execFileSync('openssl', ['x509', '-noout', '-serial'], { input: mid.certPem, encoding: 'utf8' }).trim().split('=')[1]!;
  const r = new Revocations(() => [root.rootPem]);
  t.is(r.check(chain).status, 'good');
  r.set('file', parseCrlFile(Buffer.from(other.crl([{ serial: leaf.serial }]))));
  t.is(r.check(chain).status, 'good', 'a CRL of an unrelated CA');
  r.set('file', parseCrlFile(Buffer.from(mid.crl([{ serial: leaf.serial, reason: 'superseded' }]))));
  t.like(r.check(chain), { status: 'revoked', depth: 0, reason: 'superseded' });
  r.set('file', parseCrlFile(Buffer.from(root.crl([{ serial: midSerial }]))));
  t.like(r.check(chain), { status: 'revoked', depth: 1 });
  r.set('file', []);
  t.is(r.check(chain).status, 'good');
});

test('a CRL that names a chain issuer but does not verify refuses the chain; one of a bundle root is refused on load', (t) => {
  const { root, mid } = cas(t);
  const impostorMid = new TestCa('crl-mid');
  const impostorRoot = new TestCa('crl-root');
  t.teardown(() => { impostorMid.dispose(); impostorRoot.dispose(); });
  const leaf = mid.issue(['spiffe://cluster.local/ns/a/sa/a']);
  const chain = chainOf([...leaf.chainPem, root.rootPem]);
  const r = new Revocations(() => [root.rootPem]);
  r.set('file', parseCrlFile(Buffer.from(impostorMid.crl([]))));
  t.like(r.check(chain), { status: 'invalid' });
  t.throws(() => r.set('file', parseCrlFile(Buffer.from(impostorRoot.crl([])))), { message: /does not verify/ });
  t.like(r.check(chain), { status: 'invalid' }, 'the refused load changed nothing');
});
