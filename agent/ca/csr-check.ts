import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { children, decodeOid, expect, readExactly } from '../base/der.js';
import { pemDecodeStrict } from '../base/pem.js';
import { OID, parseExtensions, parseGeneralNames, SIGNATURE_ALGORITHMS } from '../base/x509.js';
import { CaRequestError, invalidArgument } from './errors.js';

/**
 * PKCS#10 checks before the CA signs: the CSR parses, its self-signature verifies, its key is
 * ECDSA P-256/P-384 or RSA ≥ 2048 bits, and its only SAN is the one URI the caller is entitled
 * to. istiod instead discards the CSR's SANs and writes the caller's identity; meshnode refuses a
 * mismatch so that a confused or compromised client cannot obtain a certificate it did not ask for.
 */

const MAX_CSR_PEM = 64 * 1024;
/** RFC 7468 §7, and the label older tools still write. */
const CSR_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'];

const EC_CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' };

export interface CheckedCsr {
  /** The CSR's SubjectPublicKeyInfo DER, copied into the leaf unchanged. */
  readonly spki: Buffer;
  /** e.g. "ECDSA P-256", "RSA 2048" (for the audit log). */
  readonly keyType: string;
}

function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const curve = EC_CURVES[details.namedCurve ?? ''];
    if (!curve) throw invalidArgument(`unsupported EC curve ${details.namedCurve ?? 'unknown'} (allowed: P-256, P-384)`);
    return `ECDSA ${curve}`;
  }
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048 || bits > 8192) throw invalidArgument(`RSA key of ${bits} bits (allowed: 2048 to 8192)`);
    return `RSA ${bits}`;
  }
  throw invalidArgument(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'} (allowed: ECDSA P-256/P-384, RSA >= 2048)`);
}

function requestedUri(attributes: Buffer): string {
  const attrs = children(readExactly(attributes, 0xa0, 'attributes'));
  const extReq = attrs.find((a) => decodeOid(children(a)[0]!) === OID.extensionRequest);
  if (!extReq) throw invalidArgument('CSR has no subjectAltName');
  const extensions = parseExtensions(children(expect(children(extReq)[1], 0x31, 'extensionRequest'))[0]!);
  const san = extensions.get(OID.subjectAltName);
  if (!san) throw invalidArgument('CSR has no subjectAltName');
  const names = parseGeneralNames(san.value);
  if (names.uris.length !== 1 || names.dns.length + names.ips.length + names.other > 0) {
    throw invalidArgument('CSR subjectAltName must hold exactly one URI, the SPIFFE identity');
  }
  return names.uris[0]!;
}

function parse(pem: string) {
  if (pem.length > MAX_CSR_PEM) throw invalidArgument('CSR too large');
  const ders = pemDecodeStrict(pem, CSR_LABELS);
  if (ders.length !== 1) throw invalidArgument(ders.length === 0 ? 'no PEM CERTIFICATE REQUEST block' : 'more than one CSR');
  const [info, sigAlg, signature] = children(readExactly(ders[0]!, 0x30, 'CSR'));
  const [version, , spki, attributes] = children(expect(info, 0x30, 'certificationRequestInfo'));
  if (expect(version, 0x02, 'version').value.readUInt8(0) !== 0) throw invalidArgument('CSR version must be 1');
  const algorithm = decodeOid(children(expect(sigAlg, 0x30, 'signatureAlgorithm'))[0]!);
  return {
    info: info!.raw,
    spki: expect(spki, 0x30, 'subjectPublicKeyInfo').raw,
    attributes: attributes?.raw,
    algorithm,
    signature: expect(signature, 0x03, 'signature').value.subarray(1),
  };
}

/** Returns the checked CSR, or throws CaRequestError INVALID_ARGUMENT with the reason. */
export function checkCsr(pem: string, entitled: string): CheckedCsr {
  let csr: ReturnType<typeof parse>;
  let key: KeyObject;
  try {
    csr = parse(pem);
    key = createPublicKey({ key: csr.spki, format: 'der', type: 'spki' });
  } catch (err) {
    throw err instanceof CaRequestError ? err : invalidArgument(`malformed CSR: ${(err as Error).message}`);
  }
  const keyType = describeKey(key);
  const alg = SIGNATURE_ALGORITHMS[csr.algorithm];
  if (!alg) throw invalidArgument(`unsupported CSR signature algorithm ${csr.algorithm}`);
  if (alg.family !== key.asymmetricKeyType) throw invalidArgument('CSR signature algorithm does not match its key');
  if (!verify(alg.hash, csr.info, key, csr.signature)) throw invalidArgument('CSR signature does not verify');
  if (!csr.attributes) throw invalidArgument('CSR has no subjectAltName');
  let uri: string;
  try {
    uri = requestedUri(csr.attributes);
  } catch (err) {
    throw err instanceof CaRequestError ? err : invalidArgument(`malformed CSR attributes: ${(err as Error).message}`);
  }
  if (uri !== entitled) throw invalidArgument(`CSR asks for ${uri} but the caller is entitled to ${entitled}`);
  return { spki: csr.spki, keyType };
}
