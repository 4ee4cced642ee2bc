import type { Logger } from '../telemetry/log.js';
import { drainAll } from './drain.js';

/**
 * When a component stops in a shutdown: `intake` first (no new probes, pods or config), then
 * `drain` in parallel under the deadline (open connections finish), then `release` in reverse
 * start order (registrations and certificates, which draining connections still needed).
 */
export type Stage = 'intake' | 'drain' | 'release';

/** The lifecycle contract of every started part: `close()` is graceful, `destroy()` immediate. */
export interface Component {
  readonly name: string;
  readonly stage: Stage;
  close(): Promise<void>;
  destroy(): void;
}

/** The one list of started components: start-up failure destroys it, shutdown drains it. */
export class Components {
  private readonly started: Component[] = [];

  constructor(private readonly log: Logger) {}

  add(c: Component): void {
    this.started.push(c);
  }

  /** Graceful shutdown within `deadlineMs` for the drain stage; never rejects. */
  async drain(deadlineMs: number): Promise<void> {
    const of = (stage: Stage) => this.started.filter((c) => c.stage === stage);
    await drainAll(of('intake'), deadlineMs, this.log);
    await drainAll(of('drain'), deadlineMs, this.log);
    for (const c of of('release').reverse()) await drainAll([c], deadlineMs, this.log);
  }

  /** Immediate teardown in reverse start order (a start-up that failed half-way). */
  async destroyAll(): Promise<void> {
    for (const c of [...this.started].reverse()) {
      try {
        c.destroy();
      } catch (err) {
        this.log.warn('error while destroying', { component: c.name, error: err });
      }
    }
    this.started.length = 0;
  }
}
