import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKeyMaterial } from '../../agent/ca/key-material.js';
import { Signer } from '../../agent/ca/signer.js';
import { generateKeyAndCsr } from '../../agent/identity/csr.js';
import { parseRoots } from '../../agent/identity/trust-bundle.js';
import { verifyResponse, type Expected } from '../../agent/identity/verify-response.js';
import { createLogger } from '../../agent/telemetry/log.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/cart';
const dir = mkdtempSync(join(tmpdir(), 'mn-verify-'));
const log = createLogger('test');
const signer = new Signer(loadKeyMaterial(join(dir, 'a'), 'cluster.local', log), { defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000 });
const otherSigner = new Signer(loadKeyMaterial(join(dir, 'b'), 'cluster.local', log), { defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000 });
const roots = parseRoots(signer.material.rootsPem.join(''), 'a');

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

async function issued(id = ID) {
  const k = await generateKeyAndCsr(id);
  return { spki: k.spki, chain: signer.issueWorkload(k.spki, id, 3600).chain };
}

const expect = (spki: Buffer, extra: Partial<Expected> = {}): Expected => ({ id: ID, spki, roots, now: Date.now(), ...extra });

test('a correct [leaf, root] response verifies and yields the leaf as the presented chain', async (t) => {
  const { spki, chain } = await issued();
  const v = verifyResponse(chain, expect(spki));
  t.deepEqual(v.chainPem, [chain[0]]);
  t.true(v.notAfter.getTime() > Date.now());
  t.regex(v.serial, /^[0-9A-F]+$/);
});

test('a root repeated at the end (istiod plug-in responses) is tolerated', async (t) => {
  const { spki, chain } = await issued();
  t.notThrows(() => verifyResponse([...chain, chain[1]!], expect(spki)));
});

const failures: [string, RegExp, (r: Awaited<ReturnType<typeof issued>>) => [string[], Expected]][] = [
  ['a chain of one certificate', /^CA returned 1 certificate/, (r) => [[r.chain[0]!], expect(r.spki)]],
  ['a leaf for another identity', /instead of spiffe:\/\/cluster.local\/ns\/shop\/sa\/cart/, (r) => [signer.issueWorkload(r.spki, 'spiffe://cluster.local/ns/x/sa/y', 60).chain, expect(r.spki)]],
  ['a leaf with another key', /not the key of our CSR/, (r) => [r.chain, expect(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' }))]],
  ['a chain to a root outside the trust bundle', /does not verify to the trust bundle/, (r) => [otherSigner.issueWorkload(r.spki, ID, 60).chain, expect(r.spki)]],
  ['a chain whose own root is foreign but claims ours', /does not verify to the trust bundle/, (r) => [[otherSigner.issueWorkload(r.spki, ID, 60).chain[0]!, r.chain[1]!], expect(r.spki)]],
  ['an expired leaf', /expired at/, (r) => [r.chain, expect(r.spki, { now: Date.now() + 7_200_000 })]],
  ['a not yet valid leaf', /not valid until/, (r) => [r.chain, expect(r.spki, { now: Date.now() - 600_000 })]],
  ['garbage in the chain', /chain element 1: text outside the PEM blocks/, (r) => [[r.chain[0]!, 'garbage'], expect(r.spki)]],
];

for (const [what, error, make] of failures) {
  test(`${what} is rejected`, async (t) => {
    const [chain, expected] = make(await issued());
    t.throws(() => verifyResponse(chain, expected), { message: error });
  });
}
