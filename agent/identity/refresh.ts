/**
 * When to renew a certificate and when to retry after a failure. Pure: the clock reading and the
 * random source are arguments, so the schedule is tested exactly.
 */

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  /** ± fraction applied to each delay. */
  readonly jitter: number;
}

/** ztunnel's (ztunnel#1319): 0.5 s doubling to 150 s, ±20 %, per identity. */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 150_000, jitter: 0.2 };

/** Small jitter around half-life so identities issued together do not renew in lock step. */
export const REFRESH_JITTER = 0.02;

/** A certificate is never renewed sooner than this after it arrived (no hot loop on 10 s certs). */
export const MIN_REFRESH_INTERVAL_MS = 1_000;

const spread = (random: () => number, fraction: number) => 1 + (random() * 2 - 1) * fraction;

/** Delay before retry number `failures` (1 = after the first failure). */
export function backoffDelay(failures: number, random: () => number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const base = Math.min(policy.initialMs * 2 ** Math.max(0, Math.min(failures - 1, 30)), policy.maxMs);
  return Math.round(base * spread(random, policy.jitter));
}

/**
 * Renewal time: half-way through the part of the lifetime that lies ahead when the certificate
 * arrived (the CA back-dates notBefore by minutes, which would otherwise make a short certificate
 * due at once), with small jitter, and never sooner than MIN_REFRESH_INTERVAL_MS after arrival.
 */
export function refreshAt(notBefore: number, notAfter: number, receivedAt: number, random: () => number): number {
  const start = Math.min(Math.max(notBefore, receivedAt), notAfter);
  const due = start + (notAfter - start) * 0.5 * spread(random, REFRESH_JITTER);
  return Math.min(Math.max(due, receivedAt + MIN_REFRESH_INTERVAL_MS), notAfter);
}

/**
 * The next attempt after a failure: after the backoff, but no later than the expiry of a
 * certificate still in use (ztunnel#1567: retry at min(backoff, expiry)).
 */
export function retryAt(now: number, delayMs: number, validUntil: number | undefined): number {
  const at = now + delayMs;
  return validUntil !== undefined && validUntil > now ? Math.min(at, validUntil) : at;
}
