import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { certExpiryTimestamp, csrFailures, csrRequests, ownCertRevoked } from '../../metrics/identity.js';
import { createLogger, type Logger } from '../telemetry/log.js';
import { CaClient } from './ca-client.js';
import { readCertFiles, removeCertFiles, writeCertFiles } from './cert-files.js';
import { generateKeyAndCsr } from './csr.js';
import { IdentityError, type IdentityFailureReason } from './errors.js';
import { FetchLimiter } from './limiter.js';
import { backoffDelay, DEFAULT_BACKOFF, refreshAt, retryAt, type BackoffPolicy } from './refresh.js';
import type { SpiffeId } from '../base/spiffe-id.js';
import { certsToPem, parseRoots, WatchedPemFile } from './trust-bundle.js';
import { verifyResponse } from './verify-response.js';
import { CaRevocationFeed } from './revocation-feed.js';
import { chainDers, type Revocations } from './revocations.js';
import type { CertManagerOptions, CertStatus, WorkloadCert } from './cert-types.js';
import { compareText } from '../base/text.js';

export type { CertManagerOptions, CertState, CertStatus, WorkloadCert } from './cert-types.js';

interface Waiter {
  resolve(cert: WorkloadCert): void;
  reject(err: Error): void;
}

interface Entry {
  readonly id: SpiffeId;
  readonly addedAt: number;
  cert?: WorkloadCert;
  timer?: NodeJS.Timeout;
  nextAttempt?: number;
  lastAttemptAt?: number;
  failures: number;
  lastError?: IdentityError;
  fetching: boolean;
  removed: boolean;
  /** Why `cert` is revoked; it is then no longer handed out. */
  revoked?: string;
  readonly waiters: Set<Waiter>;
}

const TRUST_RECHECK_MS = 2_000;

/**
 * While a caller waits for a certificate the identity does not have, its retry does not sit out
 * the backoff (up to 150 s after a CA outage) but comes at most this often: soon enough that
 * traffic resumes within about a second of the CA's return, bounded however many callers wait.
 */
export const EARLY_RETRY_INTERVAL_MS = 1_000;

const isValid = (cert: WorkloadCert | undefined, now: number): cert is WorkloadCert =>
  cert !== undefined && cert.notBefore.getTime() <= now && now < cert.notAfter.getTime();

/**
 * Holds one certificate per local identity, obtained from the CA with a key generated here.
 * Renews at half-life; on failure retries per identity with capped, jittered backoff while the
 * current certificate stays in use until it expires; drops identities (and their keys and
 * files) as soon as they leave the desired set.
 */
export class CertManager {
  private readonly entries = new Map<SpiffeId, Entry>();
  private readonly listeners = new Set<(id: SpiffeId, cert: WorkloadCert) => void>();
  private readonly client: CaClient;
  private readonly trust: WatchedPemFile;
  private readonly limiter: FetchLimiter;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private closed = false;
  private revocations: Revocations | undefined;
  private feed: CaRevocationFeed | undefined;
  private stopRevocations: (() => void) | undefined;
  /** The bundle as read at construction, until the first request re-reads it. */
  private readonly initialBundle: string[];

  constructor(private readonly options: CertManagerOptions) {
    this.log = options.log ?? createLogger('identity');
    this.random = options.random ?? Math.random;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.limiter = new FetchLimiter(options.maxInFlight ?? 8);
    this.trust = new WatchedPemFile(options.trustBundleFile ?? options.caRootFile);
    this.client = new CaClient({
      address: options.caAddress, caRootFile: options.caRootFile, tokenFile: options.tokenFile,
      clusterId: options.clusterId, requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    });
    this.initialBundle = this.readBundleNow();
  }

  private readBundleNow(): string[] {
    try {
      return certsToPem(parseRoots(readFileSync(this.trust.path, 'utf8'), this.trust.path));
    } catch (err) {
      this.log.warn('trust bundle not readable yet', { file: this.trust.path, error: err });
      return [];
    }
  }

  /** The desired set of identities: new ones are fetched at once, missing ones are dropped. */
  setIdentities(ids: Iterable<SpiffeId>): void {
    const wanted = new Set(ids);
    for (const [id, entry] of this.entries) if (!wanted.has(id)) this.drop(entry);
    for (const id of wanted) if (!this.entries.has(id)) this.add(id);
  }

  current(id: SpiffeId): WorkloadCert | undefined {
    const entry = this.entries.get(id);
    return entry && !entry.revoked && isValid(entry.cert, Date.now()) ? entry.cert : undefined;
  }

  /**
   * Enforces `revocations` on the certificates held here: a revoked one is no longer handed out
   * and a new key and certificate are requested at once. With `feed`, the CA's revocation push
   * is followed on this manager's CA channel and feeds `revocations`.
   */
  useRevocations(revocations: Revocations, feed: boolean): void {
    this.revocations = revocations;
    this.stopRevocations = revocations.onChange(() => this.recheckRevocations());
    if (feed) {
      this.feed = new CaRevocationFeed(this.client, revocations, this.log.child('revocations'));
      this.feed.start();
    }
  }

  private revokedWhy(cert: WorkloadCert): string | undefined {
    const verdict = this.revocations?.check(chainDers([...cert.chainPem, ...cert.rootsPem]));
    return verdict?.status === 'revoked' ? verdict.why : undefined;
  }

  private recheckRevocations(): void {
    for (const entry of this.entries.values()) {
      if (!entry.cert || entry.revoked || entry.fetching) continue;
      const why = this.revokedWhy(entry.cert);
      if (!why) continue;
      entry.revoked = why;
      ownCertRevoked.inc();
      this.log.warn('certificate revoked; requesting a new key and certificate now', { identity: entry.id, serial: entry.cert.serial, why });
      this.schedule(entry, Date.now(), true);
    }
  }

  /**
   * The valid certificate, or waits for the pending request: fetching it now if unknown, and
   * retrying now (at most once a second) if it is waiting out a backoff.
   */
  fetch(id: SpiffeId, timeoutMs: number): Promise<WorkloadCert> {
    const now = this.current(id);
    if (now) return Promise.resolve(now);
    if (this.closed) return Promise.reject(new IdentityError('ca_unavailable', 'certificate manager is closed'));
    const entry = this.entries.get(id) ?? this.add(id);
    this.hurry(entry);
    this.limiter.bump(id);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        entry.waiters.delete(waiter);
        const last = entry.lastError;
        reject(new IdentityError(last?.reason ?? 'ca_unavailable',
          `no certificate for ${id} within ${timeoutMs} ms${last ? ` (last error: ${last.message})` : ''}`));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (cert) => { clearTimeout(timer); resolve(cert); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      };
      entry.waiters.add(waiter);
    });
  }

  onRotate(listener: (id: SpiffeId, cert: WorkloadCert) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * PEM roots trusted for peers. The file is re-checked in the background at most every 2 s
   * (ztunnel's debounce), so a rotated bundle is picked up without waiting for a renewal.
   */
  trustBundle(): string[] {
    if (!this.closed && this.trust.age > TRUST_RECHECK_MS) {
      this.trust.read().catch((err: unknown) => this.log.warn('trust bundle not readable', { file: this.trust.path, error: err }));
    }
    return this.trust.current.length > 0 ? this.trust.currentPem : this.initialBundle;
  }

  status(): CertStatus[] {
    const now = Date.now();
    return [...this.entries.values()].sort((a, b) => compareText(a.id, b.id)).map((e) => {
      const valid = isValid(e.cert, now);
      return {
        identity: e.id,
        state: e.revoked ? 'revoked' : valid ? 'available' : e.lastError ? 'unavailable' : 'initializing',
        serial: e.cert?.serial ?? null,
        notBefore: e.cert?.notBefore.toISOString() ?? null,
        notAfter: e.cert?.notAfter.toISOString() ?? null,
        nextRefresh: !e.fetching && e.nextAttempt !== undefined ? new Date(e.nextAttempt).toISOString() : null,
        fetching: e.fetching,
        attempts: e.failures,
        lastError: e.lastError ? `${e.lastError.reason}: ${e.lastError.message}` : null,
        revoked: e.revoked ?? null,
      };
    });
  }

  /** Identities without a valid certificate whose last attempt failed, and since when they have had none. */
  lacking(now = Date.now()): { identity: SpiffeId; since: number; reason: IdentityFailureReason }[] {
    const out: { identity: SpiffeId; since: number; reason: IdentityFailureReason }[] = [];
    for (const e of this.entries.values()) {
      const expiredAt = e.cert?.notAfter.getTime();
      if (isValid(e.cert, now) || !e.lastError) continue;
      out.push({ identity: e.id, since: expiredAt !== undefined && expiredAt <= now ? expiredAt : e.addedAt, reason: e.lastError.reason });
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.feed?.close();
    this.stopRevocations?.();
    for (const entry of this.entries.values()) {
      clearTimeout(entry.timer);
      this.limiter.cancel(entry.id);
      this.rejectWaiters(entry, new IdentityError('ca_unavailable', 'certificate manager is closed'));
    }
    this.client.close();
  }

  private add(id: SpiffeId): Entry {
    const entry: Entry = { id, addedAt: Date.now(), failures: 0, fetching: false, removed: false, waiters: new Set() };
    this.entries.set(id, entry);
    this.schedule(entry, Date.now(), true);
    return entry;
  }

  private drop(entry: Entry): void {
    entry.removed = true;
    clearTimeout(entry.timer);
    this.limiter.cancel(entry.id);
    this.entries.delete(entry.id);
    certExpiryTimestamp.remove({ identity: entry.id });
    this.rejectWaiters(entry, new IdentityError('rejected', `identity ${entry.id} is no longer needed on this node`));
    if (this.options.certDir) {
      try {
        removeCertFiles(this.options.certDir, entry.id);
      } catch (err) {
        this.log.error('cannot remove certificate files', { identity: entry.id, error: err });
      }
    }
    this.log.info('identity dropped', { identity: entry.id });
  }

  private schedule(entry: Entry, at: number, urgent: boolean): void {
    if (this.closed || entry.removed) return;
    clearTimeout(entry.timer);
    entry.nextAttempt = at;
    entry.timer = setTimeout(() => this.limiter.submit(entry.id, urgent, () => this.attempt(entry)), Math.max(0, at - Date.now()));
    entry.timer.unref();
  }

  /** A caller needs the certificate now: a retry in backoff is brought forward (see EARLY_RETRY_INTERVAL_MS). */
  private hurry(entry: Entry): void {
    if (entry.fetching || entry.failures === 0) return;
    const earliest = Math.max(Date.now(), (entry.lastAttemptAt ?? 0) + EARLY_RETRY_INTERVAL_MS);
    if (entry.nextAttempt === undefined || entry.nextAttempt > earliest) this.schedule(entry, earliest, true);
  }

  private async attempt(entry: Entry): Promise<void> {
    if (this.closed || entry.removed) return;
    entry.fetching = true;
    entry.lastAttemptAt = Date.now();
    csrRequests.inc();
    let outcome: { cert: WorkloadCert } | { error: unknown };
    try {
      outcome = { cert: await this.obtain(entry.id, this.renewalCertificate(entry) ?? await this.storedCertificate(entry)) };
    } catch (error) {
      outcome = { error };
    } finally {
      entry.fetching = false;
    }
    if (this.closed || entry.removed) {
      // ztunnel test_forget_pending: an answer for a forgotten identity is never installed.
      this.log.debug('discarded answer for a forgotten identity', { identity: entry.id });
      return;
    }
    if ('cert' in outcome) this.install(entry, outcome.cert);
    else this.fail(entry, outcome.error);
  }

  /** The certificate a renewal authenticates with, when renewal by certificate is on and it is still valid. */
  private renewalCertificate(entry: Entry): WorkloadCert | undefined {
    return this.options.renewWithCertificate && isValid(entry.cert, Date.now()) ? entry.cert : undefined;
  }

  /**
   * After a restart, the certificate the last run wrote under --cert-dir, when it is still valid
   * and checks out against the trust bundle: what a renewal by certificate authenticates with
   * once the bootstrap token has expired.
   */
  private async storedCertificate(entry: Entry): Promise<WorkloadCert | undefined> {
    if (!this.options.renewWithCertificate || !this.options.certDir || entry.cert) return undefined;
    const files = await readCertFiles(this.options.certDir, entry.id);
    if (!files) return undefined;
    try {
      const spki = createPublicKey(files.keyPem).export({ type: 'spki', format: 'der' });
      const verified = verifyResponse([...files.chainPem, ...files.rootsPem], { id: entry.id, spki, roots: await this.trust.read(), now: Date.now() });
      return { id: entry.id, chainPem: verified.chainPem, keyPem: files.keyPem, rootsPem: [...files.rootsPem], notBefore: verified.notBefore, notAfter: verified.notAfter, serial: verified.serial };
    } catch (err) {
      this.log.info('the stored certificate cannot be used for renewal', { identity: entry.id, error: (err as Error).message });
      return undefined;
    }
  }

  /** One CSR round trip, checked; throws IdentityError. */
  private async obtain(id: SpiffeId, own: WorkloadCert | undefined): Promise<WorkloadCert> {
    const [keyAndCsr, roots] = await Promise.all([generateKeyAndCsr(id), this.trust.read()]);
    const ttlSeconds = Math.max(1, Math.round(this.options.certTtlMs / 1000));
    const chain = await this.request(keyAndCsr.csrPem, ttlSeconds, id, own);
    const verified = verifyResponse(chain, { id, spki: keyAndCsr.spki, roots, now: Date.now() });
    const rootsPem = certsToPem(roots);
    const cert = {
      id, chainPem: verified.chainPem, keyPem: keyAndCsr.keyPem, rootsPem,
      notBefore: verified.notBefore, notAfter: verified.notAfter, serial: verified.serial,
    };
    const revoked = this.revokedWhy(cert);
    if (revoked) throw new IdentityError('revoked', `the CA answered with a revoked certificate: ${revoked}`);
    return cert;
  }

  private async request(csrPem: string, ttlSeconds: number, id: SpiffeId, own: WorkloadCert | undefined): Promise<string[]> {
    if (!own) return this.client.createCertificate(csrPem, ttlSeconds, id);
    try {
      return await this.client.createCertificate(csrPem, ttlSeconds, id, own);
    } catch (err) {
      if (!(err instanceof IdentityError) || err.reason !== 'unauthenticated' || this.options.tokenFile === undefined) throw err;
      this.log.warn('the CA refused a renewal by certificate; renewing with the token', { identity: id, error: err.message });
      return this.client.createCertificate(csrPem, ttlSeconds, id);
    }
  }

  private install(entry: Entry, cert: WorkloadCert): void {
    const now = Date.now();
    entry.cert = cert;
    entry.revoked = undefined;
    entry.failures = 0;
    entry.lastError = undefined;
    certExpiryTimestamp.set({ identity: entry.id }, cert.notAfter.getTime() / 1000);
    if (this.options.certDir) {
      try {
        writeCertFiles(this.options.certDir, entry.id, cert);
      } catch (err) {
        this.log.error('cannot write certificate files', { identity: entry.id, dir: this.options.certDir, error: err });
      }
    }
    const next = refreshAt(cert.notBefore.getTime(), cert.notAfter.getTime(), now, this.random);
    this.schedule(entry, next, false);
    this.log.info('certificate issued', { identity: entry.id, serial: cert.serial, notAfter: cert.notAfter.toISOString(), nextRefresh: new Date(next).toISOString() });
    for (const waiter of entry.waiters) waiter.resolve(cert);
    entry.waiters.clear();
    for (const listener of this.listeners) {
      try {
        listener(entry.id, cert);
      } catch (err) {
        this.log.error('rotation listener failed', { identity: entry.id, error: err });
      }
    }
  }

  private fail(entry: Entry, err: unknown): void {
    const error = err instanceof IdentityError ? err : new IdentityError('rejected', err instanceof Error ? err.message : String(err));
    const now = Date.now();
    entry.failures++;
    entry.lastError = error;
    csrFailures.inc({ reason: error.reason });
    const valid = isValid(entry.cert, now);
    const backoff = retryAt(now, backoffDelay(entry.failures, this.random, this.backoff), valid ? entry.cert!.notAfter.getTime() : undefined);
    const at = entry.waiters.size > 0 ? Math.min(backoff, now + EARLY_RETRY_INTERVAL_MS) : backoff;
    this.schedule(entry, at, !valid);
    this.log.warn('certificate request failed', {
      identity: entry.id, reason: error.reason, error: error.message, attempts: entry.failures,
      keptCertificateUntil: valid ? entry.cert!.notAfter.toISOString() : null, retryAt: new Date(at).toISOString(),
    });
  }

  private rejectWaiters(entry: Entry, err: Error): void {
    for (const waiter of entry.waiters) waiter.reject(err);
    entry.waiters.clear();
  }
}

export function createCertManager(options: CertManagerOptions): CertManager {
  return new CertManager(options);
}
