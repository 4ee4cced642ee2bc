import { createHash } from 'node:crypto';

/**
 * TokenReview answers kept for a short time, keyed by the token's SHA-256 (no token is kept in
 * memory), so an agent renewing many identities at once costs the API server one review. Bounded:
 * past `maxEntries` the oldest entry goes, so a flood of distinct tokens costs memory once and
 * evicts only cache. Calls for a token already under review share that review.
 */

export interface ReviewCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly now?: () => number;
}

interface Entry<T> {
  readonly expires: number;
  readonly outcome: Promise<T>;
}

export class ReviewCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly pending = new Map<string, Promise<T>>();
  private readonly now: () => number;

  constructor(private readonly options: ReviewCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The cached outcome for `token`, else `review(token)`'s. A review that settles is cached
   * whether it resolved or rejected, unless `cacheable(error)` says the rejection is transient
   * (the API server was down): that must be retried, not remembered.
   */
  get(token: string, review: (token: string) => Promise<T>, cacheable: (error: unknown) => boolean): Promise<T> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.entries.get(key);
    if (hit && hit.expires > this.now()) return hit.outcome;
    if (hit) this.entries.delete(key);
    const running = this.pending.get(key);
    if (running) return running;
    const outcome = review(token);
    this.pending.set(key, outcome);
    const remember = () => {
      this.pending.delete(key);
      this.entries.set(key, { expires: this.now() + this.options.ttlMs, outcome });
      if (this.entries.size > this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    };
    outcome.then(remember, (err: unknown) => {
      if (cacheable(err)) remember();
      else this.pending.delete(key);
    });
    return outcome;
  }
}
