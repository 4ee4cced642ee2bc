/**
 * The `certificates` readiness condition: the agent is not ready while a certificate a local
 * workload needs has been missing for a while — never issued, or expired — and cannot be
 * obtained (CA unreachable, or refusing). One failed attempt that the next retry repairs does
 * not count: an identity fails the condition only after CERT_NOT_READY_AFTER_MS without a valid
 * certificate, by which time the manager has retried several times.
 */

export interface LackingCertificate {
  readonly identity: string;
  /** When the identity last stopped having a valid certificate (added, or its certificate expired). */
  readonly since: number;
  /** Why the last attempt failed (`ca_unavailable`, `unauthenticated`, ...). */
  readonly reason: string;
}

export interface CertificateHealth {
  /** Identities without a valid certificate whose last attempt failed. */
  lacking(now: number): readonly LackingCertificate[];
}

export interface CertificateStates {
  /** Every identity the node needs, with its state (`available`, `initializing`, `unavailable`). */
  status(): readonly { identity: string; state: string }[];
}

/** Backoff retries at 0.5, 1, 2 and 4 s fit in it; a CA outage this long is not a blip. */
export const CERT_NOT_READY_AFTER_MS = 10_000;

export function certificatesCondition(certs: CertificateHealth, graceMs = CERT_NOT_READY_AFTER_MS): () => string | undefined {
  return () => {
    const now = Date.now();
    const long = certs.lacking(now).filter((l) => now - l.since >= graceMs);
    if (long.length === 0) return undefined;
    const [first] = long as [LackingCertificate];
    const more = long.length > 1 ? ` and ${long.length - 1} more` : '';
    return `no valid certificate for ${first.identity} since ${new Date(first.since).toISOString()} (${first.reason})${more}`;
  };
}

/**
 * The stricter condition of `--ready-requires-certs`: not ready while any identity a local
 * workload needs has no valid certificate, however recent — so a node is not sent traffic it
 * would refuse or cannot tunnel.
 */
export function allCertificatesCondition(certs: CertificateStates): () => string | undefined {
  return () => {
    const missing = certs.status().filter((c) => c.state !== 'available');
    if (missing.length === 0) return undefined;
    const shown = missing.slice(0, 3).map((c) => `${c.identity} (${c.state})`).join(', ');
    return `waiting for ${missing.length} certificate${missing.length === 1 ? '' : 's'}: ${shown}${missing.length > 3 ? ', ...' : ''}`;
  };
}
