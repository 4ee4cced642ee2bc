import type { SpiffeId } from '../base/spiffe-id.js';

/**
 * The slice of a workload certificate the tunnel needs. The identity manager's WorkloadCert has
 * this shape (and more); the tunnel builds its own TLS contexts from the PEMs so that protocol
 * version, suites and trust are pinned here, next to the code that relies on them.
 */
export interface TunnelCert {
  readonly id: SpiffeId;
  readonly chainPem: readonly string[];
  readonly keyPem: string;
  readonly rootsPem: readonly string[];
  readonly serial: string;
  readonly notAfter: Date;
}

/** Where the data plane gets certificates: the identity manager (CertManager) satisfies this. */
export interface CertSource {
  fetch(id: SpiffeId, timeoutMs: number): Promise<TunnelCert>;
  current(id: SpiffeId): TunnelCert | undefined;
  trustBundle(): string[];
  onRotate(listener: (id: SpiffeId, cert: TunnelCert) => void): () => void;
}
