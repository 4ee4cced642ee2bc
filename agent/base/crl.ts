import { createPublicKey, verify } from 'node:crypto';
import { children, DerError, expect, read, readExactly, decodeOid, type DerNode } from './der.js';
import { pemBlocks } from './pem.js';
import { certificateFields, KEY_USAGE, keyUsageAllows, OID, parseExtensions, SIGNATURE_ALGORITHMS } from './x509.js';

/**
 * X.509 v2 certificate revocation lists (RFC 5280 §5), read with the project's DER reader:
 * node:crypto parses certificates but has no CRL API. A CRL is untrusted input until
 * `verifyCrl` has checked it against the certificate that issued it, so parsing is a single
 * bounded pass and refuses anything past fixed limits.
 */

export const CRL_LIMITS = {
  /** Bytes of one CRL file (PEM or DER): a million 16-byte serials fit. */
  maxFileBytes: 64 * 1024 * 1024,
  maxEntries: 1_000_000,
} as const;

/** RFC 5280 §5.3.1 CRLReason codes by name, as `openssl ca -crl_reason` spells them. */
export const CRL_REASONS = {
  unspecified: 0, keyCompromise: 1, cACompromise: 2, affiliationChanged: 3, superseded: 4,
  cessationOfOperation: 5, certificateHold: 6, removeFromCRL: 8, privilegeWithdrawn: 9, aACompromise: 10,
} as const;

export type CrlReason = keyof typeof CRL_REASONS;

const REASON_NAMES = new Map<number, CrlReason>(Object.entries(CRL_REASONS).map(([k, v]) => [v, k as CrlReason]));

export interface RevokedEntry {
  /** Upper-case hex without leading zeros (see normalizeSerial). */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: CrlReason;
}

export interface Crl {
  readonly der: Buffer;
  /** The signed TBSCertList bytes. */
  readonly tbs: Buffer;
  readonly algorithm: string;
  readonly signature: Buffer;
  /** Issuer Name DER, compared byte for byte with certificates' issuer fields. */
  readonly issuer: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** The cRLNumber extension, when present. */
  readonly number: bigint | undefined;
  readonly revoked: ReadonlyMap<string, RevokedEntry>;
}

/** One spelling of a serial number for every source: upper-case hex, no leading zeros. */
export function normalizeSerial(hex: string): string {
  const trimmed = hex.replace(/^0+/, '').toUpperCase();
  return trimmed === '' ? '0' : trimmed;
}

function integerHex(node: DerNode | undefined, what: string): string {
  const n = expect(node, 0x02, what);
  if (n.value.length === 0) throw new DerError(`${what}: empty integer`);
  return normalizeSerial(n.value.toString('hex'));
}

/** UTCTime or GeneralizedTime in the `Z` forms DER allows. */
export function decodeTime(node: DerNode | undefined, what: string): Date {
  const text = node?.value.toString('latin1') ?? '';
  const m = node?.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : node?.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (!m) throw new DerError(`${what}: not a DER time`);
  const year = node!.tag === 0x17 ? (Number(m[1]) < 50 ? 2000 : 1900) + Number(m[1]) : Number(m[1]);
  const date = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(date.getTime())) throw new DerError(`${what}: invalid date`);
  return date;
}

const isTime = (n: DerNode | undefined) => n?.tag === 0x17 || n?.tag === 0x18;

function entryReason(node: DerNode | undefined): CrlReason {
  if (!node) return 'unspecified';
  const ext = parseExtensions(node).get(OID.crlReason);
  if (!ext) return 'unspecified';
  const value = readExactly(ext.value, 0x0a, 'reasonCode').value;
  return REASON_NAMES.get(value.length === 1 ? value[0]! : -1) ?? 'unspecified';
}

/** Parses one DER CRL; throws DerError naming what is malformed. */
export function parseCrl(der: Buffer): Crl {
  const top = children(readExactly(der, 0x30, 'CRL'));
  const tbsNode = expect(top[0], 0x30, 'tbsCertList');
  const algorithm = decodeOid(children(expect(top[1], 0x30, 'signatureAlgorithm'))[0]);
  const signature = expect(top[2], 0x03, 'signatureValue').value.subarray(1);
  const tbs = children(tbsNode);
  let i = 0;
  if (tbs[i]?.tag === 0x02) {
    if (tbs[i]!.value.length !== 1 || tbs[i]!.value[0] !== 1) throw new DerError('CRL version must be v2');
    i++;
  }
  const inner = decodeOid(children(expect(tbs[i++], 0x30, 'signature'))[0]);
  if (inner !== algorithm) throw new DerError('CRL signature algorithms differ inside and outside the signed part');
  const issuer = expect(tbs[i++], 0x30, 'issuer').raw;
  const thisUpdate = decodeTime(tbs[i++], 'thisUpdate');
  const nextUpdate = isTime(tbs[i]) ? decodeTime(tbs[i++], 'nextUpdate') : undefined;
  const revoked = new Map<string, RevokedEntry>();
  if (tbs[i]?.tag === 0x30) {
    for (let offset = 0, list = tbs[i++]!.value; offset < list.length;) {
      if (revoked.size === CRL_LIMITS.maxEntries) throw new DerError(`more than ${CRL_LIMITS.maxEntries} revoked certificates`);
      const entry = read(list, offset);
      offset += entry.raw.length;
      const [serial, date, exts] = children(expect(entry, 0x30, 'revokedCertificate'));
      const hex = integerHex(serial, 'revoked serial');
      revoked.set(hex, { serial: hex, revokedAt: decodeTime(date, 'revocationDate'), reason: entryReason(exts) });
    }
  }
  let number: bigint | undefined;
  if (tbs[i]?.tag === 0xa0) {
    const ext = parseExtensions(read(tbs[i++]!.value)).get(OID.crlNumber);
    if (ext) number = BigInt(`0x${integerHex(read(ext.value), 'cRLNumber')}`);
  }
  if (i !== tbs.length) throw new DerError('unexpected fields at the end of tbsCertList');
  return { der, tbs: tbsNode.raw, algorithm, signature, issuer, thisUpdate, nextUpdate, number, revoked };
}

/**
 * Every CRL in a file as istiod and ztunnel read them: a file starting with a DER SEQUENCE is
 * one DER CRL; anything else is PEM text, where every `X509 CRL` block counts (other blocks and
 * text between them, as `openssl crl -text` writes, are skipped); an empty file means no
 * revocations. One malformed CRL fails the whole file.
 */
export function parseCrlFile(bytes: Buffer): Crl[] {
  if (bytes.length > CRL_LIMITS.maxFileBytes) throw new DerError(`CRL file of ${bytes.length} bytes is larger than ${CRL_LIMITS.maxFileBytes}`);
  if (bytes[0] === 0x30) return [parseCrl(bytes)];
  if (bytes.toString('latin1').trim() === '') return [];
  if (!bytes.includes('-----BEGIN')) throw new DerError('neither a DER CRL nor PEM text');
  return pemBlocks(bytes.toString('latin1')).filter((b) => b.label === 'X509 CRL').map((b, n) => {
    try {
      return parseCrl(b.der);
    } catch (err) {
      throw new DerError(`CRL ${n + 1}: ${(err as Error).message}`);
    }
  });
}

/**
 * Whether `crl` was signed by the certificate `issuerDer`: same name, the issuer allowed to
 * sign CRLs (a KeyUsage extension without cRLSign forbids it, RFC 5280 §4.2.1.3), and the
 * signature verifies. Undefined when it was; otherwise why not.
 */
export function verifyCrl(crl: Crl, issuerDer: Buffer): string | undefined {
  const fields = certificateFields(issuerDer);
  if (!fields.subject.equals(crl.issuer)) return 'the CRL issuer is not this certificate\'s subject';
  if (!keyUsageAllows(fields, KEY_USAGE.cRLSign)) return 'the issuing CA certificate\'s key usage lacks cRLSign';
  const alg = SIGNATURE_ALGORITHMS[crl.algorithm];
  if (!alg) return `unsupported CRL signature algorithm ${crl.algorithm}`;
  const key = createPublicKey({ key: fields.spki, format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== alg.family) return 'the CRL signature algorithm does not match the issuer key';
  return verify(alg.hash, crl.tbs, key, crl.signature) ? undefined : 'the CRL signature does not verify';
}
