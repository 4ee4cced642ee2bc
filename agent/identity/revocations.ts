import { createHash } from 'node:crypto';
import { normalizeSerial, verifyCrl, type Crl, type CrlReason } from '../base/crl.js';
import { pemDecodeAll } from '../base/pem.js';
import { certificateFields } from '../base/x509.js';
import { crlInUse, crlLoads } from '../../metrics/identity.js';
import { IdentityError } from './errors.js';

/**
 * The CRLs the agent enforces, from `--crl` files and from the CA's push, and the one check
 * every handshake and every open tunnel goes through. A chain is checked link by link, from the
 * leaf up: a certificate is revoked when a CRL of its issuer lists its serial. A CRL is trusted
 * only once its signature verifies with the certificate that issued the chain's link: a CRL of
 * a trust-bundle root is verified when it is loaded (failing that, the load is refused); one of
 * an intermediate, when a chain under it is first seen. A CRL that names an issuer in the chain
 * but does not verify refuses the chain (fail closed); a chain no CRL covers passes (unknown
 * status is allowed, as in ztunnel).
 */

export type RevocationSource = 'file' | 'ca';

export type Verdict =
  | { readonly status: 'good' }
  | { readonly status: 'revoked'; readonly serial: string; readonly depth: number; readonly reason: CrlReason; readonly why: string }
  | { readonly status: 'invalid'; readonly why: string };

const GOOD: Verdict = { status: 'good' };

export interface RevocationSourceStatus {
  readonly source: RevocationSource;
  readonly crls: number;
  readonly revoked: number;
  readonly loadedAt: string | null;
  readonly lastError: string | null;
}

const keyOf = (name: Buffer) => name.toString('base64');
const fingerprint = (der: Buffer) => createHash('sha256').update(der).digest('base64');

interface SourceState {
  crls: readonly Crl[];
  loadedAt?: Date;
  lastError?: string;
}

export class Revocations {
  private readonly sources = new Map<RevocationSource, SourceState>();
  /** CRLs by issuer Name, from every source. */
  private byIssuer = new Map<string, Crl[]>();
  /** Verification results per CRL and issuer certificate. */
  private verified = new WeakMap<Crl, Map<string, string | undefined>>();
  private readonly listeners = new Set<() => void>();

  /** @param roots the trust bundle (PEM), against which CRLs of roots are verified on load */
  constructor(private readonly roots: () => readonly string[]) {}

  /**
   * Replaces what `source` contributes. Every CRL whose issuer is a trust-bundle root must verify
   * with it; otherwise nothing changes and the IdentityError says which CRL failed and why
   * (the caller reports it with `failed`).
   */
  set(source: RevocationSource, crls: readonly Crl[]): void {
    try {
      const roots = this.roots().flatMap((pem) => pemDecodeAll(pem, 'CERTIFICATE'));
      crls.forEach((crl, i) => {
        const candidates = roots.filter((r) => certificateFields(r).subject.equals(crl.issuer));
        if (candidates.length === 0) return;
        const failures = candidates.map((r) => this.verify(crl, r)).filter((why) => why !== undefined);
        if (failures.length === candidates.length) throw new IdentityError('trust_bundle', `CRL ${i + 1}: ${failures[0]}`);
      });
    } catch (err) {
      throw err instanceof IdentityError ? err : new IdentityError('trust_bundle', `CRL check failed: ${(err as Error).message}`);
    }
    this.sources.set(source, { crls, loadedAt: new Date() });
    crlLoads.inc({ source, result: 'ok' });
    crlInUse.set({ source }, crls.reduce((n, c) => n + c.revoked.size, 0));
    this.byIssuer = new Map();
    for (const state of this.sources.values()) {
      for (const crl of state.crls) {
        const list = this.byIssuer.get(keyOf(crl.issuer)) ?? [];
        list.push(crl);
        this.byIssuer.set(keyOf(crl.issuer), list);
      }
    }
    for (const l of this.listeners) l();
  }

  /** Records a failed load (unreadable file, stream error) while the last good CRLs stay in force. */
  failed(source: RevocationSource, message: string): void {
    const state = this.sources.get(source) ?? { crls: [] };
    state.lastError = message;
    this.sources.set(source, state);
    crlLoads.inc({ source, result: 'error' });
  }

  /** Called after every accepted change, so open tunnels and own certificates are re-checked. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get empty(): boolean {
    return this.byIssuer.size === 0;
  }

  private verify(crl: Crl, issuerDer: Buffer): string | undefined {
    let results = this.verified.get(crl);
    if (!results) {
      results = new Map();
      this.verified.set(crl, results);
    }
    const fp = fingerprint(issuerDer);
    if (!results.has(fp)) {
      let why: string | undefined;
      try {
        why = verifyCrl(crl, issuerDer);
      } catch (err) {
        why = `the issuer certificate is malformed: ${(err as Error).message}`;
      }
      results.set(fp, why);
    }
    return results.get(fp);
  }

  /**
   * Checks a presented chain, leaf first; the last element is the trust anchor it verified to
   * (as the TLS stack reports it). Only links with their issuer in the chain can be checked.
   */
  check(chain: readonly Buffer[]): Verdict {
    if (this.byIssuer.size === 0) return GOOD;
    try {
      for (let depth = 0; depth + 1 < chain.length; depth++) {
        const cert = certificateFields(chain[depth]!);
        const crls = this.byIssuer.get(keyOf(cert.issuer));
        if (!crls) continue;
        const serial = normalizeSerial(cert.serial.toString('hex'));
        for (const crl of crls) {
          const why = this.verify(crl, chain[depth + 1]!);
          if (why !== undefined) return { status: 'invalid', why: `a CRL for the issuer of certificate ${depth} cannot be verified: ${why}` };
          const entry = crl.revoked.get(serial);
          if (entry) {
            const what = depth === 0 ? 'certificate' : `CA certificate at depth ${depth} of the chain`;
            return { status: 'revoked', serial, depth, reason: entry.reason, why: `${what} serial ${serial} is revoked (${entry.reason}, since ${entry.revokedAt.toISOString()})` };
          }
        }
      }
    } catch (err) {
      return { status: 'invalid', why: `chain cannot be checked for revocation: ${(err as Error).message}` };
    }
    return GOOD;
  }

  /** The CRLs in force, per source: what a data-plane worker thread's copy is loaded with. */
  inForce(): { source: RevocationSource; crls: readonly Crl[] }[] {
    return [...this.sources.entries()].map(([source, s]) => ({ source, crls: s.crls }));
  }

  status(): RevocationSourceStatus[] {
    return [...this.sources.entries()].map(([source, s]) => ({
      source, crls: s.crls.length, revoked: s.crls.reduce((n, c) => n + c.revoked.size, 0),
      loadedAt: s.loadedAt?.toISOString() ?? null, lastError: s.lastError ?? null,
    }));
  }
}

/** A certificate chain as PEM strings (leaf first, then intermediates and roots) as DER. */
export function chainDers(pems: readonly string[]): Buffer[] {
  return pems.flatMap((pem) => pemDecodeAll(pem, 'CERTIFICATE'));
}
