/**
 * Counts connection handlers that have not finished (from accept to the end of the relay,
 * including the setup before a connection is tracked), so a graceful drain knows when the last
 * one is done.
 */
export class InFlight {
  private active = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.active;
  }

  /** Counts `work` until it settles; returns it unchanged. */
  run<T>(work: Promise<T>): Promise<T> {
    this.active++;
    return work.finally(() => {
      this.active--;
      if (this.active > 0) return;
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    });
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
