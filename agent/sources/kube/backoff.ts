/** Retry timing of the list/watch loop: what client-go's reflector uses, so API servers see familiar load. */
export interface BackoffTiming {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A loop that ran this long without a failure starts again from `initialMs`. */
  readonly resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffTiming = { initialMs: 800, maxMs: 30_000, resetAfterMs: 120_000 };

/**
 * Doubling delays with full jitter (each delay is d..2d for the current step d), so the agents of a
 * whole fleet that lost the API server together do not come back in lockstep.
 */
export class Backoff {
  private step: number;
  private lastFailureAt = 0;

  constructor(private readonly timing: BackoffTiming, private readonly now: () => number = Date.now) {
    this.step = timing.initialMs;
  }

  next(): number {
    const now = this.now();
    if (now - this.lastFailureAt > this.timing.resetAfterMs) this.step = this.timing.initialMs;
    this.lastFailureAt = now;
    const delay = Math.min(this.timing.maxMs, this.step * (1 + Math.random()));
    this.step = Math.min(this.timing.maxMs, this.step * 2);
    return Math.round(delay);
  }
}
