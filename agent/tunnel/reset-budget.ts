/**
 * A token bucket for streams a peer resets before they are answered. A burst of 100 is allowed
 * and 10 tokens come back per second; running dry means the peer is attacking (rapid reset,
 * CVE-2023-44487) rather than cancelling the odd request.
 */
export class ResetBudget {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly burst = 100, private readonly perSecond = 10) {
    this.tokens = burst;
  }

  /** Spends one token; true when the budget is exhausted. */
  spend(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens -= 1;
    return this.tokens < 0;
  }
}
