import { dirname, join } from 'node:path';
import { ENROLLMENT_STATE_FILE, ENROLLMENT_STATE_VERSION, type EnrollmentState } from '../base/contracts/enrollment-state.js';
import { writeFileAtomic } from '../base/atomic-file.js';
import type { Logger } from '../telemetry/log.js';

export interface EnrollmentFileDeps {
  /** The agent's CNI socket; the file is written beside it, where the plugin looks. */
  readonly cniSocket: string;
  readonly node: string;
  readonly meshNamespaces: () => ReadonlySet<string>;
  readonly log: Logger;
  /** Longest a change waits before it is written (changes in between are written together). */
  readonly delayMs?: number;
}

/**
 * Publishes the enrollment state for `meshnode-cni` to decide from while the agent is down. It
 * is rewritten (temporary file, fsync, rename) only when the namespaces change, and stays in
 * place when the agent stops: that is when it is needed.
 */
export class EnrollmentFile {
  readonly path: string;
  private written: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: EnrollmentFileDeps) {
    this.path = join(dirname(deps.cniSocket), ENROLLMENT_STATE_FILE);
  }

  /** Writes the current state now; a write failure is thrown. */
  publish(): Promise<void> {
    const next = this.writing.then(() => this.write());
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** Publishes soon; a failure is logged and retried on the next change. */
  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.publish().catch((err: unknown) => this.deps.log.error('cannot publish the enrollment state for meshnode-cni', { file: this.path, error: err }));
    }, this.deps.delayMs ?? 100);
    this.timer.unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async write(): Promise<void> {
    const meshNamespaces = [...this.deps.meshNamespaces()].sort();
    const key = JSON.stringify(meshNamespaces);
    if (key === this.written) return;
    const state: EnrollmentState = { version: ENROLLMENT_STATE_VERSION, node: this.deps.node, publishedAt: new Date().toISOString(), meshNamespaces };
    await writeFileAtomic(this.path, JSON.stringify(state, null, 2) + '\n', 0o644);
    this.written = key;
    this.deps.log.info('enrollment state published for meshnode-cni', { file: this.path, meshNamespaces: meshNamespaces.length });
  }
}
