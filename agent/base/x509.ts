import { createHash } from 'node:crypto';
import { children, decodeOid, DerError, expect, read, readExactly, type DerNode } from './der.js';

/**
 * The X.509 fields node:crypto's X509Certificate does not expose in a parseable form: raw names,
 * extensions and their values (SANs, key identifiers). Used by the CA (issuer name, key ids of its
 * signing certificate) and by the certificate manager (exact SAN check on CA responses).
 */

export const OID = {
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  extensionRequest: '1.2.840.113549.1.9.14',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  organization: '2.5.4.10',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
} as const;

/** Signature algorithms meshnode verifies (CSRs, CRLs): key family and digest by OID. */
export const SIGNATURE_ALGORITHMS: Readonly<Record<string, { family: 'ec' | 'rsa'; hash: string }>> = {
  '1.2.840.10045.4.3.2': { family: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { family: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { family: 'ec', hash: 'sha512' },
  '1.2.840.113549.1.1.11': { family: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { family: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { family: 'rsa', hash: 'sha512' },
};

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
export const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

/** Whether a KeyUsage extension is present and, if so, whether `bit` is set. */
export function keyUsageAllows(fields: CertificateFields, bit: number): boolean {
  const ext = fields.extensions.get(OID.keyUsage);
  if (!ext) return true;
  const bits = readExactly(ext.value, 0x03, 'keyUsage').value;
  const byte = bits[1 + (bit >> 3)];
  return byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0;
}

export interface Extension {
  readonly critical: boolean;
  readonly value: Buffer;
}

export interface CertificateFields {
  /** The serialNumber INTEGER's content bytes. */
  readonly serial: Buffer;
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly extensions: ReadonlyMap<string, Extension>;
}

/** Parses an Extensions SEQUENCE into a map by OID; a repeated extension is malformed. */
export function parseExtensions(node: DerNode): Map<string, Extension> {
  const out = new Map<string, Extension>();
  for (const ext of children(expect(node, 0x30, 'extensions'))) {
    const parts = children(expect(ext, 0x30, 'extension'));
    const id = decodeOid(parts[0]!);
    const critical = parts.length === 3 && parts[1]!.tag === 0x01 && parts[1]!.value[0] !== 0;
    const value = expect(parts[parts.length - 1], 0x04, 'extension value').value;
    if (out.has(id)) throw new DerError(`extension ${id} appears twice`);
    out.set(id, { critical, value });
  }
  return out;
}

export function certificateFields(der: Buffer): CertificateFields {
  const cert = readExactly(der, 0x30, 'certificate');
  const tbs = children(expect(children(cert)[0], 0x30, 'tbsCertificate'));
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, , issuer, , subject, spki] = tbs.slice(offset);
  const extWrapper = tbs.slice(offset + 6).find((n) => n.tag === 0xa3);
  const extensions = extWrapper ? parseExtensions(read(extWrapper.value)) : new Map<string, Extension>();
  return {
    serial: expect(serial, 0x02, 'serialNumber').value,
    issuer: expect(issuer, 0x30, 'issuer').raw,
    subject: expect(subject, 0x30, 'subject').raw,
    spki: expect(spki, 0x30, 'subjectPublicKeyInfo').raw,
    extensions,
  };
}

export interface GeneralNames {
  readonly uris: string[];
  readonly dns: string[];
  readonly ips: Buffer[];
  /** Names of any other kind (email, directory name, ...). */
  readonly other: number;
}

export function parseGeneralNames(value: Buffer): GeneralNames {
  const names: GeneralNames = { uris: [], dns: [], ips: [], other: 0 };
  for (const n of children(readExactly(value, 0x30, 'subjectAltName'))) {
    if (n.tag === 0x86) names.uris.push(n.value.toString('latin1'));
    else if (n.tag === 0x82) names.dns.push(n.value.toString('latin1'));
    else if (n.tag === 0x87) names.ips.push(n.value);
    else (names as { other: number }).other++;
  }
  return names;
}

/** The URI SANs of a certificate (empty when it has no SAN extension). */
export function certificateUris(der: Buffer): string[] {
  const san = certificateFields(der).extensions.get(OID.subjectAltName);
  return san ? parseGeneralNames(san.value).uris : [];
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdOf(spki: Buffer): Buffer {
  const parts = children(readExactly(spki, 0x30, 'subjectPublicKeyInfo'));
  const bits = expect(parts[1], 0x03, 'subjectPublicKey').value.subarray(1);
  return createHash('sha1').update(bits).digest();
}

/** The certificate's subjectKeyIdentifier, if it has one. */
export function subjectKeyId(fields: CertificateFields): Buffer | undefined {
  const ext = fields.extensions.get(OID.subjectKeyId);
  return ext ? readExactly(ext.value, 0x04, 'subjectKeyIdentifier').value : undefined;
}
