import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { checkCsr } from '../../agent/ca/csr-check.js';
import { buildCsr, generateKeyAndCsr } from '../../agent/identity/csr.js';
import { decodeOid, oid, read, time } from '../../agent/base/der.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/cart';

test('our CSR passes the CA checks and carries its key', async (t) => {
  const k = await generateKeyAndCsr(ID);
  const checked = checkCsr(k.csrPem, ID);
  t.true(checked.spki.equals(k.spki));
  t.is(checked.keyType, 'ECDSA P-256');
});

test('a P-384 key is accepted', (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const csr = buildCsr(privateKey, publicKey.export({ type: 'spki', format: 'der' }), ID);
  t.is(checkCsr(csr, ID).keyType, 'ECDSA P-384');
});

const refused: [string, RegExp, () => Promise<[string, string]>][] = [
  ['a SAN other than the entitled identity', /asks for .* but the caller is entitled to/, async () => [(await generateKeyAndCsr(ID)).csrPem, 'spiffe://cluster.local/ns/shop/sa/web']],
  ['a P-521 key', /unsupported EC curve secp521r1/, async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
    return [buildCsr(privateKey, publicKey.export({ type: 'spki', format: 'der' }), ID), ID];
  }],
  ['a key that did not sign the CSR', /signature does not verify/, async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const mine = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    return [buildCsr(other.privateKey, mine.publicKey.export({ type: 'spki', format: 'der' }), ID), ID];
  }],
  ['no PEM block', /no PEM CERTIFICATE REQUEST block/, async () => ['\n', ID]],
  ['text instead of PEM', /malformed CSR: text outside the PEM blocks/, async () => ['hello', ID]],
  ['a truncated CSR', /malformed CSR/, async () => {
    const pem = (await generateKeyAndCsr(ID)).csrPem;
    const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\n/g, ''), 'base64').subarray(0, 60);
    return [`-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`, ID];
  }],
];

for (const [what, error, make] of refused) {
  test(`a CSR with ${what} is refused as INVALID_ARGUMENT`, async (t) => {
    const [pem, entitled] = await make();
    const err = t.throws(() => checkCsr(pem, entitled));
    t.is((err as { grpcCode?: number }).grpcCode, 3);
    t.regex(err!.message, error);
  });
}

test('object identifiers round-trip through DER', (t) => {
  for (const id of ['1.2.840.10045.4.3.2', '2.5.29.17', '1.3.6.1.5.5.7.3.2', '2.999.1']) t.is(decodeOid(read(oid(id))), id);
});

test('times before 2050 are UTCTime and later ones GeneralizedTime', (t) => {
  t.is(time(new Date('2049-12-31T23:59:59Z')).toString('latin1'), '\x17\x0d491231235959Z');
  t.is(time(new Date('2050-01-01T00:00:00Z')).toString('latin1'), '\x18\x0f20500101000000Z');
});
