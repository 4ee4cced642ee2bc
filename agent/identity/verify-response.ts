import { X509Certificate } from 'node:crypto';
import { IdentityError } from './errors.js';
import { pemDecodeStrict, pemEncode } from '../base/pem.js';
import { certificateUris } from '../base/x509.js';

/**
 * Checks a CreateCertificate response before anything uses it (as ztunnel does since its issue #167):
 * at least [leaf, root]; the leaf names exactly the identity asked for and carries our key; the
 * chain verifies to the configured trust bundle — not to whatever root the response carries —
 * and everything in it is valid now. Each element holds PEM certificates and nothing else: an
 * answer padded with anything more is malformed, not searched for something usable.
 */

export interface Expected {
  readonly id: string;
  readonly spki: Buffer;
  readonly roots: readonly X509Certificate[];
  readonly now: number;
}

export interface VerifiedChain {
  /** Leaf then intermediates, one PEM each: what is presented in TLS handshakes. */
  readonly chainPem: string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
}

/** Certificates in one answer, however they are split into elements (a real chain has 2 to 4). */
const MAX_CERTIFICATES = 16;

/**
 * node:crypto decodes a certificate's key only when it is first asked for; asking here makes an
 * undecodable key `malformed` instead of an uncoded OpenSSL error thrown by a later check.
 */
function parseCertificate(der: Buffer): X509Certificate {
  const cert = new X509Certificate(der);
  cert.publicKey.export({ type: 'spki', format: 'der' });
  return cert;
}

function parseElements(chain: readonly string[]): X509Certificate[] {
  if (chain.length < 2) throw new IdentityError('empty_chain', `CA returned ${chain.length} certificate(s); at least [leaf, root] are required`);
  if (chain.length > MAX_CERTIFICATES) throw new IdentityError('malformed', `CA returned ${chain.length} certificates`);
  const certs: X509Certificate[] = [];
  for (const [i, element] of chain.entries()) {
    let ders: Buffer[];
    try {
      ders = pemDecodeStrict(element, ['CERTIFICATE']);
    } catch (err) {
      throw new IdentityError('malformed', `chain element ${i}: ${(err as Error).message}`);
    }
    if (ders.length === 0) throw new IdentityError('malformed', `chain element ${i} holds no PEM certificate`);
    if (certs.length + ders.length > MAX_CERTIFICATES) throw new IdentityError('malformed', `CA returned more than ${MAX_CERTIFICATES} certificates`);
    try {
      certs.push(...ders.map(parseCertificate));
    } catch (err) {
      throw new IdentityError('malformed', `chain element ${i}: ${(err as Error).message}`);
    }
  }
  return certs;
}

const selfSigned = (c: X509Certificate) => c.checkIssued(c) && c.verify(c.publicKey);
const issuedBy = (c: X509Certificate, issuer: X509Certificate) => issuer.ca && c.checkIssued(issuer) && c.verify(issuer.publicKey);

function checkValidity(c: X509Certificate, now: number, what: string): void {
  const from = new Date(c.validFrom).getTime();
  const to = new Date(c.validTo).getTime();
  if (!(from < to)) throw new IdentityError('bad_validity', `${what} has notBefore ${c.validFrom} not before notAfter ${c.validTo}`);
  if (now < from) throw new IdentityError('bad_validity', `${what} is not valid until ${c.validFrom}`);
  if (now >= to) throw new IdentityError('bad_validity', `${what} expired at ${c.validTo}`);
}

function checkLeaf(leaf: X509Certificate, expected: Expected): void {
  if (leaf.ca) throw new IdentityError('malformed', 'leaf is a CA certificate');
  let uris: string[];
  try {
    uris = certificateUris(leaf.raw);
  } catch (err) {
    throw new IdentityError('malformed', `leaf: ${(err as Error).message}`);
  }
  if (uris.length !== 1 || uris[0] !== expected.id) {
    throw new IdentityError('wrong_identity', `leaf names ${uris.join(', ') || 'no URI'} instead of ${expected.id}`);
  }
  if (!leaf.publicKey.export({ type: 'spki', format: 'der' }).equals(expected.spki)) {
    throw new IdentityError('key_mismatch', 'leaf public key is not the key of our CSR');
  }
}

export function verifyResponse(chain: readonly string[], expected: Expected): VerifiedChain {
  const certs = parseElements(chain);
  const leaf = certs[0]!;
  checkLeaf(leaf, expected);
  // Trailing self-signed certificates are the CA's idea of the roots (possibly repeated); they
  // are not trusted for anything, only dropped from what we present.
  let end = certs.length;
  while (end > 1 && selfSigned(certs[end - 1]!)) end--;
  const path = certs.slice(0, end);
  for (const [i, c] of path.entries()) checkValidity(c, expected.now, i === 0 ? 'leaf' : `intermediate ${i}`);
  for (let i = 0; i + 1 < path.length; i++) {
    if (!issuedBy(path[i]!, path[i + 1]!)) throw new IdentityError('untrusted_chain', `certificate ${i} is not issued by certificate ${i + 1} of the chain`);
  }
  const top = path[path.length - 1]!;
  if (!expected.roots.some((r) => issuedBy(top, r) && new Date(r.validTo).getTime() > expected.now)) {
    throw new IdentityError('untrusted_chain', 'chain does not verify to the trust bundle');
  }
  return {
    chainPem: path.map((c) => pemEncode(c.raw, 'CERTIFICATE')),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serial: leaf.serialNumber,
  };
}
