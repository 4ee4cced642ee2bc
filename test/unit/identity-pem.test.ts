import test from 'ava';
import { performance } from 'node:perf_hooks';
import { checkCsr } from '../../agent/ca/csr-check.js';
import { generateKeyAndCsr } from '../../agent/identity/csr.js';
import { PEM_LIMITS, pemBlocks, pemDecodeAll, pemDecodeStrict, pemEncode } from '../../agent/base/pem.js';

// Issue #15 item 6: the scanner is linear. A regular expression with a back-reference took 18 s
// for 1 MB of repeated BEGIN lines; these inputs must parse or be refused well within the bound.
const BOUND_MS = 200;
const MB = 1024 * 1024;
const fill = (unit: string, size = MB) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);

const hostile: Array<[string, string]> = [
  ['repeated BEGIN lines', fill('-----BEGIN A-----')],
  ['repeated certificate BEGIN lines', fill('-----BEGIN CERTIFICATE-----\n')],
  ['BEGIN and END lines that never pair', fill('-----BEGIN A-----x-----END B-----')],
  ['one BEGIN with a megabyte label', '-----BEGIN ' + fill('A')],
  ['a megabyte of base64 in one block', `-----BEGIN CERTIFICATE-----\n${fill('QUFB')}\n-----END CERTIFICATE-----\n`],
  ['a megabyte of junk', fill('junk ')],
];

for (const [what, text] of hostile) {
  test(`1 MB of ${what} is parsed or refused within ${BOUND_MS} ms, strict and lenient`, (t) => {
    for (const parse of [() => pemBlocks(text), () => pemDecodeStrict(text, ['CERTIFICATE'])]) {
      const started = performance.now();
      let outcome: unknown;
      try {
        outcome = parse();
      } catch (err) {
        outcome = err;
      }
      const ms = performance.now() - started;
      t.true(ms < BOUND_MS, `${ms.toFixed(0)} ms`);
      if (outcome instanceof Error) t.is((outcome as Error & { code?: string }).code, 'ERR_PEM', outcome.message);
    }
  });
}

test('a 64 KiB hostile CSR is refused by the CA within 50 ms', (t) => {
  const csr = fill('-----BEGIN A-----', 64 * 1024);
  const started = performance.now();
  t.throws(() => checkCsr(csr, 'spiffe://cluster.local/ns/shop/sa/cart'), { message: /malformed CSR/ });
  const ms = performance.now() - started;
  t.true(ms < 50, `${ms.toFixed(0)} ms`);
});

test('a file may carry explanatory text between blocks; network input may not', (t) => {
  const a = pemEncode(Buffer.from([0x30, 0x00]), 'CERTIFICATE');
  const b = pemEncode(Buffer.from([0x30, 0x01, 0x05]), 'CERTIFICATE');
  const file = `# Subject: O=one\n${a}\n# Subject: O=two\n${b}`;
  t.deepEqual(pemDecodeAll(file, 'CERTIFICATE').map((d) => d.length), [2, 3]);
  t.throws(() => pemDecodeStrict(file, ['CERTIFICATE']), { message: 'text outside the PEM blocks' });
  t.deepEqual(pemDecodeStrict(`\n${a}\r\n${b}\n`, ['CERTIFICATE']).map((d) => d.length), [2, 3]);
  t.throws(() => pemDecodeStrict(`${a}${pemEncode(Buffer.from([0x30, 0x00]), 'PRIVATE KEY')}`, ['CERTIFICATE']), { message: 'unexpected PEM block PRIVATE KEY' });
});

test('a valid certificate after junk in a CA answer is not searched for', async (t) => {
  const { csrPem } = await generateKeyAndCsr('spiffe://cluster.local/ns/shop/sa/cart');
  t.throws(() => pemDecodeStrict(`-----BEGIN A-----\n${csrPem}`, ['CERTIFICATE REQUEST']), { code: 'ERR_PEM' });
});

const malformed: Array<[string, string, RegExp]> = [
  ['no END line', '-----BEGIN CERTIFICATE-----\nQUFB\n', /has no END line/],
  ['a mismatched END line', '-----BEGIN CERTIFICATE-----\nQUFB\n-----END PRIVATE KEY-----\n', /has no END line/],
  ['a lower-case label', '-----BEGIN certificate-----\nQUFB\n-----END certificate-----\n', /malformed PEM BEGIN line/],
  ['a body that is not base64', '-----BEGIN CERTIFICATE-----\nQU*B\n-----END CERTIFICATE-----\n', /not base64/],
  ['unpadded base64', '-----BEGIN CERTIFICATE-----\nQUF\n-----END CERTIFICATE-----\n', /not base64/],
  ['a block nested in a block', '-----BEGIN A-----\n-----BEGIN A-----\nQUFB\n-----END A-----\n-----END A-----\n', /not base64/],
  ['too many blocks', pemEncode(Buffer.from([1]), 'A').repeat(PEM_LIMITS.maxBlocks + 1), /more than 512 PEM blocks/],
  ['an oversized block', `-----BEGIN A-----\n${'QUFB'.repeat(PEM_LIMITS.maxBlockChars / 4 + 1)}\n-----END A-----\n`, /longer than 65536 characters/],
  ['oversized text', ' '.repeat(PEM_LIMITS.maxChars + 1), /longer than 4194304/],
];
for (const [what, text, why] of malformed) {
  test(`PEM with ${what} is refused with ERR_PEM`, (t) => {
    t.throws(() => pemBlocks(text), { code: 'ERR_PEM', message: why });
  });
}
