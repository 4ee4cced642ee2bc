import type { Logger } from '../telemetry/log.js';
import { compareText } from '../base/text.js';

/**
 * Readiness as a set of named blockers (ztunnel's `Ready`/`BlockReady`) and named conditions:
 * the agent is ready when no blocker is pending and no condition fails. Each component takes a
 * blocker before it starts and releases it when it can serve; the log says which ones are still
 * awaited. A condition is asked on every probe and can make a started agent not ready again
 * (certificates it cannot obtain, descriptors it cannot get), with the reason.
 */
export class Readiness {
  private readonly pending = new Map<string, { since: number; waitsFor: string | undefined }>();
  private readonly conditions = new Map<string, () => string | undefined>();

  constructor(private readonly log: Logger) {}

  /**
   * Adds a blocker; the returned function releases it (idempotent). `waitsFor` says, for
   * `/healthz/ready` and `meshnode ctl status`, what has to happen before it is released.
   */
  block(name: string, waitsFor?: string): () => void {
    if (this.pending.has(name)) throw new Error(`readiness blocker "${name}" is already pending`);
    this.pending.set(name, { since: Date.now(), waitsFor });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const started = this.pending.get(name)!.since;
      this.pending.delete(name);
      this.log.info(`task '${name}' complete`, { durationMs: Date.now() - started, stillAwaiting: this.pendingNames() });
    };
  }

  /** Adds a condition: `failure()` returns why the agent cannot serve, or undefined while it can. */
  condition(name: string, failure: () => string | undefined): void {
    if (this.conditions.has(name)) throw new Error(`readiness condition "${name}" already exists`);
    this.conditions.set(name, failure);
  }

  isReady(): boolean {
    return this.pending.size === 0 && this.failing().length === 0;
  }

  pendingNames(): string[] {
    return [...this.pending.keys()].sort();
  }

  /** The pending blockers with what each waits for and since when, sorted by name. */
  blockers(): { name: string; waitsFor: string | undefined; since: string }[] {
    return this.pendingNames().map((name) => {
      const { since, waitsFor } = this.pending.get(name)!;
      return { name, waitsFor, since: new Date(since).toISOString() };
    });
  }

  /** `<condition>: <reason>` for every failing condition, sorted by name. */
  failing(): string[] {
    const out: string[] = [];
    for (const [name, failure] of [...this.conditions].sort(([a], [b]) => compareText(a, b))) {
      const reason = failure();
      if (reason !== undefined) out.push(`${name}: ${reason}`);
    }
    return out;
  }
}
