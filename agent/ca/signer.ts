import { OID, keyIdOf } from '../base/x509.js';
import { pemEncode } from '../base/pem.js';
import {
  authorityKeyIdentifier, basicConstraints, EMPTY_NAME, extKeyUsage, KEY_USAGE, keyUsage, randomSerial,
  signCertificate, subjectAltName, subjectKeyIdentifier, type AltNames,
} from './certificate.js';
import { internal, invalidArgument } from './errors.js';
import type { CaKeyMaterial } from './key-material.js';

/** istiod's ClockSkewGracePeriod: leaves are valid from two minutes in the past. */
const BACKDATE_MS = 120_000;

export interface SignerOptions {
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
}

export interface Issued {
  /** Leaf first, then intermediates, roots last; one PEM (ending in a newline) per element. */
  readonly chain: string[];
  readonly serial: string;
  readonly notAfter: Date;
}

/**
 * Issues leaf certificates under the loaded key material. The extensions that are the same for
 * every leaf are encoded once; per request only the serial, validity, key and SAN are new.
 */
export class Signer {
  private readonly fixed: Buffer[];
  private readonly tail: string[];

  constructor(readonly material: CaKeyMaterial, private readonly options: SignerOptions) {
    this.fixed = [
      keyUsage([KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment]),
      extKeyUsage([OID.serverAuth, OID.clientAuth]),
      basicConstraints(false),
      ...(material.signerKeyId ? [authorityKeyIdentifier(material.signerKeyId)] : []),
    ];
    this.tail = [...material.intermediatesPem, ...material.rootsPem];
  }

  get signerNotAfter(): Date {
    return new Date(this.material.signerCert.validTo);
  }

  /**
   * The lifetime to grant for `requestedSeconds` (istiod's rules): ≤ 0 means the default, above
   * the maximum is refused, and nothing outlives the signing certificate.
   */
  notAfter(requestedSeconds: number, now: number): Date {
    const limit = this.signerNotAfter.getTime();
    if (limit <= now) throw internal('the CA signing certificate has expired');
    if (requestedSeconds * 1000 > this.options.maxTtlMs) {
      throw invalidArgument(`requested TTL ${requestedSeconds}s is greater than the max allowed TTL ${this.options.maxTtlMs / 1000}s`);
    }
    const ttl = requestedSeconds > 0 ? requestedSeconds * 1000 : this.options.defaultTtlMs;
    return new Date(Math.min(now + ttl, limit));
  }

  /** A workload leaf: empty subject, the identity as its only (critical) URI SAN. */
  issueWorkload(spki: Buffer, identity: string, requestedSeconds: number): Issued {
    return this.issue(spki, { uris: [identity] }, this.notAfter(requestedSeconds, Date.now()));
  }

  /** The CA's own gRPC serving certificate for its host names and addresses. */
  issueServing(spki: Buffer, names: AltNames, lifetimeMs: number): Issued {
    return this.issue(spki, names, new Date(Math.min(Date.now() + lifetimeMs, this.signerNotAfter.getTime())));
  }

  private issue(spki: Buffer, names: AltNames, until: Date): Issued {
    // X.509 times have whole seconds; report exactly what the certificate says.
    const notAfter = new Date(Math.floor(until.getTime() / 1000) * 1000);
    const serial = randomSerial();
    const der = signCertificate({
      serial, issuer: this.material.signerSubject, subject: EMPTY_NAME,
      notBefore: new Date(Date.now() - BACKDATE_MS), notAfter, spki,
      extensions: [...this.fixed, subjectKeyIdentifier(keyIdOf(spki)), subjectAltName(names, true)],
    }, this.material.signer);
    return { chain: [pemEncode(der, 'CERTIFICATE'), ...this.tail], serial: serial.toString('hex').toUpperCase(), notAfter };
  }
}
