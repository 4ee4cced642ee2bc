import { sign } from 'node:crypto';
import { bitString, context, seq, smallInt, time, unsignedInt } from '../base/der.js';
import { CRL_REASONS, type CrlReason } from '../base/crl.js';
import { authorityKeyIdentifier, crlNumber, crlReason, hexBytes } from './certificate.js';
import type { CaKeyMaterial } from './key-material.js';

/**
 * Encodes and signs the CA's X.509 v2 CRL (RFC 5280 §5): issuer = the signing certificate's
 * subject, thisUpdate/nextUpdate, one entry per revoked serial (with its reason unless
 * unspecified, which RFC 5280 says to leave out), authorityKeyIdentifier and cRLNumber.
 */

export interface CrlEntry {
  /** Hex serial, as the CA reports it. */
  readonly serial: string;
  readonly revokedAt: Date;
  readonly reason: CrlReason;
}

export interface CrlContent {
  readonly number: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: readonly CrlEntry[];
}

export function signCrl(content: CrlContent, material: CaKeyMaterial): Buffer {
  const entries = content.entries.map((e) => seq(
    unsignedInt(hexBytes(e.serial)),
    time(e.revokedAt),
    ...(e.reason === 'unspecified' ? [] : [seq(crlReason(CRL_REASONS[e.reason]))]),
  ));
  const extensions = [
    ...(material.signerKeyId ? [authorityKeyIdentifier(material.signerKeyId)] : []),
    crlNumber(content.number),
  ];
  const signer = material.signer;
  const tbs = seq(
    smallInt(1),
    signer.algorithm,
    material.signerSubject,
    time(content.thisUpdate),
    time(content.nextUpdate),
    ...(entries.length > 0 ? [seq(...entries)] : []),
    context(0, true, seq(...extensions)),
  );
  return seq(tbs, signer.algorithm, bitString(sign(signer.hash, tbs, signer.key)));
}
