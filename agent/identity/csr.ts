import { generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { bitString, bool, context, octetString, oid, seq, set, smallInt, tlv } from '../base/der.js';
import { pemEncode } from '../base/pem.js';
import { OID } from '../base/x509.js';

/**
 * The workload key and CSR the certificate manager sends: a fresh ECDSA P-256 key per request,
 * an empty subject and exactly one critical URI SAN (ztunnel's shape; a CN would be rejected by
 * istiod above 64 characters and is not needed).
 */

const generate = promisify(generateKeyPair);
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface KeyAndCsr {
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  /** SubjectPublicKeyInfo DER (compared with the issued leaf's key). */
  readonly spki: Buffer;
  readonly csrPem: string;
}

export function buildCsr(privateKey: KeyObject, spki: Buffer, uri: string): string {
  const san = seq(oid(OID.subjectAltName), bool(true), octetString(seq(tlv(0x86, Buffer.from(uri, 'latin1')))));
  const extensionRequest = seq(oid(OID.extensionRequest), set(seq(san)));
  const info = seq(smallInt(0), seq(), spki, context(0, true, extensionRequest));
  const der = seq(info, ECDSA_SHA256, bitString(sign('sha256', info, privateKey)));
  return pemEncode(der, 'CERTIFICATE REQUEST');
}

export async function generateKeyAndCsr(uri: string): Promise<KeyAndCsr> {
  const { privateKey, publicKey } = await generate('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKey,
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    spki,
    csrPem: buildCsr(privateKey, spki, uri),
  };
}
