import { randomFillSync, sign, type KeyObject } from 'node:crypto';
import { ipToBytes } from '../base/ip.js';
import { bitString, bool, context, namedBits, nullValue, octetString, oid, seq, set, smallInt, time, tlv, unsignedInt, utf8String } from '../base/der.js';
import { OID } from '../base/x509.js';

/**
 * Builds and signs X.509 v3 certificates directly in DER: the CA's hot path (one leaf per CSR)
 * and its cold paths (self-signed root, serving certificate) share this one encoder.
 */

export interface SigningKey {
  readonly key: KeyObject;
  /** AlgorithmIdentifier DER matching the key. */
  readonly algorithm: Buffer;
  /** node:crypto digest name for the signature. */
  readonly hash: string;
}

/** The signature algorithm a CA key signs with: ECDSA with the curve's hash, or SHA-256 RSA. */
export function signingKey(key: KeyObject): SigningKey {
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'secp384r1') return { key, hash: 'sha384', algorithm: seq(oid('1.2.840.10045.4.3.3')) };
    if (curve === 'secp521r1') return { key, hash: 'sha512', algorithm: seq(oid('1.2.840.10045.4.3.4')) };
    return { key, hash: 'sha256', algorithm: seq(oid('1.2.840.10045.4.3.2')) };
  }
  if (type === 'rsa') return { key, hash: 'sha256', algorithm: seq(oid('1.2.840.113549.1.1.11'), nullValue()) };
  throw new Error(`unsupported CA key type ${String(type)}`);
}

export interface CertificateTemplate {
  readonly serial: Buffer;
  /** Name DER of the issuer (the signing certificate's subject). */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  /** Extension DERs, see the builders below. */
  readonly extensions: Buffer[];
}

export function signCertificate(t: CertificateTemplate, signer: SigningKey): Buffer {
  const tbs = seq(
    context(0, true, smallInt(2)),
    unsignedInt(t.serial),
    signer.algorithm,
    t.issuer,
    seq(time(t.notBefore), time(t.notAfter)),
    t.subject,
    t.spki,
    context(3, true, seq(...t.extensions)),
  );
  const signature = sign(signer.hash, tbs, signer.key);
  return seq(tbs, signer.algorithm, bitString(signature));
}

/** A random positive 128-bit serial number (istiod: random below 2^128). */
export function randomSerial(): Buffer {
  const serial = randomFillSync(Buffer.alloc(16));
  if (serial[0] === 0) serial[0] = 1;
  return serial;
}

export const EMPTY_NAME = seq();

export function organizationName(organization: string): Buffer {
  return seq(set(seq(oid(OID.organization), utf8String(organization))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octetString(value)) : seq(oid(id), octetString(value));
}

export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  const body = ca ? [bool(true), ...(pathLen === undefined ? [] : [smallInt(pathLen)])] : [];
  return extension(OID.basicConstraints, true, seq(...body));
}

export { KEY_USAGE } from '../base/x509.js';

export function keyUsage(bits: number[]): Buffer {
  return extension(OID.keyUsage, true, namedBits(bits));
}

export function extKeyUsage(oids: string[]): Buffer {
  return extension(OID.extKeyUsage, false, seq(...oids.map(oid)));
}

export interface AltNames {
  readonly uris?: readonly string[];
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
}

/** SubjectAltName; critical when the subject is empty (RFC 5280 §4.2.1.6, SPIFFE X.509-SVID). */
export function subjectAltName(names: AltNames, critical: boolean): Buffer {
  const entries = [
    ...(names.uris ?? []).map((u) => tlv(0x86, Buffer.from(u, 'latin1'))),
    ...(names.dns ?? []).map((d) => tlv(0x82, Buffer.from(d, 'latin1'))),
    ...(names.ips ?? []).map((ip) => tlv(0x87, Buffer.from(ipBytes(ip)))),
  ];
  return extension(OID.subjectAltName, critical, seq(...entries));
}

export function subjectKeyIdentifier(keyId: Buffer): Buffer {
  return extension(OID.subjectKeyId, false, octetString(keyId));
}

/** Big-endian bytes of a hex number of any length. */
export function hexBytes(hex: string): Buffer {
  return Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex');
}

export function crlNumber(n: bigint): Buffer {
  return extension(OID.crlNumber, false, unsignedInt(hexBytes(n.toString(16))));
}

export function crlReason(code: number): Buffer {
  return extension(OID.crlReason, false, tlv(0x0a, Buffer.from([code])));
}

export function authorityKeyIdentifier(keyId: Buffer): Buffer {
  return extension(OID.authorityKeyId, false, seq(context(0, false, keyId)));
}

function ipBytes(ip: string): Uint8Array {
  const bytes = ipToBytes(ip);
  if (!bytes) throw new Error(`"${ip}" is not an IP address`);
  return bytes;
}
