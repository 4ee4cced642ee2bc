/**
 * At most `max` CSR requests in flight (ztunnel: 8). Waiting work is started urgent-first:
 * identities with no usable certificate go before background renewals, so a renewal wave
 * never delays a workload that cannot connect yet.
 */
export class FetchLimiter {
  private running = 0;
  private readonly urgent = new Map<string, () => Promise<void>>();
  private readonly background = new Map<string, () => Promise<void>>();

  constructor(private readonly max: number) {}

  /** Queues `task` under `key` (one queued task per key; a later submit replaces it). */
  submit(key: string, urgent: boolean, task: () => Promise<void>): void {
    this.cancel(key);
    (urgent ? this.urgent : this.background).set(key, task);
    this.pump();
  }

  /** Moves a queued background task to the urgent queue. */
  bump(key: string): void {
    const task = this.background.get(key);
    if (!task) return;
    this.background.delete(key);
    this.urgent.set(key, task);
  }

  cancel(key: string): void {
    this.urgent.delete(key);
    this.background.delete(key);
  }

  get inFlight(): number {
    return this.running;
  }

  private next(): (() => Promise<void>) | undefined {
    for (const queue of [this.urgent, this.background]) {
      const first = queue.entries().next();
      if (!first.done) {
        queue.delete(first.value[0]);
        return first.value[1];
      }
    }
    return undefined;
  }

  private pump(): void {
    while (this.running < this.max) {
      const task = this.next();
      if (!task) return;
      this.running++;
      void task().catch(() => {}).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }
}
