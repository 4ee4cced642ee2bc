import type { SpiffeId } from '../base/spiffe-id.js';
import { chainDers, type Revocations } from '../identity/index.js';
import type { CertSource, TunnelCert } from '../tunnel/index.js';
import { WorkerError } from './errors.js';

interface Waiter {
  resolve(cert: TunnelCert): void;
  reject(err: Error): void;
}

/**
 * A worker thread's view of the node's certificates: what the main thread's certificate manager
 * pushed (every rotation, and every certificate this worker asked for), handed out under the
 * same rules — valid now, not revoked by the CRLs in force. A certificate it lacks is asked of
 * the main thread once per identity, however many connections wait for it.
 */
export class CertReplica implements CertSource {
  private readonly certs = new Map<SpiffeId, TunnelCert>();
  private readonly revoked = new Set<SpiffeId>();
  private readonly waiters = new Map<SpiffeId, Set<Waiter>>();
  private readonly listeners = new Set<(id: SpiffeId, cert: TunnelCert) => void>();
  private bundle: readonly string[] = [];

  constructor(private readonly ask: (id: SpiffeId) => void) {}

  current(id: SpiffeId): TunnelCert | undefined {
    const cert = this.certs.get(id);
    const now = Date.now();
    return cert && !this.revoked.has(id) && now < cert.notAfter.getTime() ? cert : undefined;
  }

  fetch(id: SpiffeId, timeoutMs: number): Promise<TunnelCert> {
    const now = this.current(id);
    if (now) return Promise.resolve(now);
    let waiting = this.waiters.get(id);
    if (!waiting) {
      waiting = new Set();
      this.waiters.set(id, waiting);
      this.ask(id);
    }
    const set = waiting;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: (cert) => { clearTimeout(timer); resolve(cert); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      const timer = setTimeout(() => {
        set.delete(waiter);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
        reject(new WorkerError(`no certificate for ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      set.add(waiter);
    });
  }

  /** A certificate from the main thread; `rotated` when it replaces one (pooled tunnels retire). */
  put(cert: TunnelCert, rotated: boolean): void {
    this.certs.set(cert.id, cert);
    this.revoked.delete(cert.id);
    const waiting = this.waiters.get(cert.id);
    this.waiters.delete(cert.id);
    for (const w of waiting ?? []) w.resolve(cert);
    if (rotated) for (const l of this.listeners) l(cert.id, cert);
  }

  /** The main thread could not get one: everyone waiting for it fails now, as they would there. */
  failed(id: SpiffeId, message: string): void {
    const waiting = this.waiters.get(id);
    this.waiters.delete(id);
    for (const w of waiting ?? []) w.reject(new WorkerError(message));
  }

  setTrustBundle(bundle: readonly string[]): void {
    this.bundle = bundle;
  }

  trustBundle(): string[] {
    return [...this.bundle];
  }

  onRotate(listener: (id: SpiffeId, cert: TunnelCert) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Stops handing out the certificates the CRLs in force revoke, as the main thread's manager
   * does; it pushes the replacement once the CA issued it.
   */
  recheck(revocations: Pick<Revocations, 'check'>): void {
    for (const [id, cert] of this.certs) {
      const verdict = revocations.check(chainDers([...cert.chainPem, ...cert.rootsPem]));
      if (verdict.status === 'revoked') this.revoked.add(id);
    }
  }

  /** Fails whoever still waits (the worker is going away). */
  close(): void {
    for (const id of [...this.waiters.keys()]) this.failed(id, 'the data-plane worker is shutting down');
  }
}
