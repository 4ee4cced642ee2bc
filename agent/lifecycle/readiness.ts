import type { Logger } from '../telemetry/log.js';

/**
 * Readiness as a set of named blockers (ztunnel's `Ready`/`BlockReady`): the agent is ready when
 * none is pending. Each component takes a blocker before it starts and releases it when it can
 * serve; the log says which ones are still awaited.
 */
export class Readiness {
  private readonly pending = new Map<string, number>();

  constructor(private readonly log: Logger) {}

  /** Adds a blocker; the returned function releases it (idempotent). */
  block(name: string): () => void {
    if (this.pending.has(name)) throw new Error(`readiness blocker "${name}" is already pending`);
    this.pending.set(name, Date.now());
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const started = this.pending.get(name)!;
      this.pending.delete(name);
      this.log.info(`task '${name}' complete`, { durationMs: Date.now() - started, stillAwaiting: this.pendingNames() });
    };
  }

  isReady(): boolean {
    return this.pending.size === 0;
  }

  pendingNames(): string[] {
    return [...this.pending.keys()].sort();
  }
}
