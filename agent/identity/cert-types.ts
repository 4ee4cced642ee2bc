import type { SpiffeId } from '../base/spiffe-id.js';
import type { Logger } from '../telemetry/log.js';
import type { BackoffPolicy } from './refresh.js';

/** The certificate manager's public shapes: what it is configured with, hands out and reports. */

export interface CertManagerOptions {
  /** This node's name (Pods with this nodeName are ours). */
  readonly node: string;
  readonly caAddress: { readonly host: string; readonly port: number };
  /** Verifies the CA's serving certificate. */
  readonly caRootFile: string;
  readonly tokenFile?: string | undefined;
  /** Sent as `clusterid` metadata. */
  readonly clusterId: string;
  /** Roots trusted for peers and for CA responses; default `caRootFile`. */
  readonly trustBundleFile?: string | undefined;
  /** Lifetime asked for (`validity_duration`). */
  readonly certTtlMs: number;
  /**
   * Renew with the identity's own valid certificate (mutual TLS to the CA) rather than the
   * token, which then serves only for a first certificate or after one expired; a refused
   * certificate renewal falls back to the token when there is one.
   */
  readonly renewWithCertificate?: boolean;
  /** Istio /etc/certs layout per identity, when set. */
  readonly certDir?: string | undefined;
  readonly maxInFlight?: number;
  readonly requestTimeoutMs?: number;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
  readonly log?: Logger;
}

export interface WorkloadCert {
  readonly id: SpiffeId;
  /** Leaf first, then intermediates. */
  readonly chainPem: string[];
  readonly keyPem: string;
  readonly rootsPem: string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
}

export type CertState = 'initializing' | 'available' | 'unavailable' | 'revoked';

/** One identity in `GET /certs`. */
export interface CertStatus {
  readonly identity: string;
  readonly state: CertState;
  readonly serial: string | null;
  readonly notBefore: string | null;
  readonly notAfter: string | null;
  /** When the next renewal or retry starts (null while a request is in flight). */
  readonly nextRefresh: string | null;
  readonly fetching: boolean;
  /** Consecutive failed attempts since the last success. */
  readonly attempts: number;
  readonly lastError: string | null;
  /** Why the certificate held is revoked (a replacement is being obtained), else null. */
  readonly revoked: string | null;
}
