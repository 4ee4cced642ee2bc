import { ownScript } from '../base/install-layout.js';
import type { SpiffeId } from '../base/spiffe-id.js';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../telemetry/log.js';
import { WorkerError } from './errors.js';
import type { Command, FromWorker, ToWorker, Update, WorkerSetup } from './protocol.js';

/** A worker that does not report itself started in this time is a failed start. */
const START_TIMEOUT_MS = 30_000;
const DESTROY_GRACE_MS = 1_000;

export interface WorkerEvents {
  readonly wantCert: (id: SpiffeId) => void;
  /** The thread ended without being asked to, or reported it cannot enforce what it was sent. */
  readonly failed: (why: string) => void;
}

/**
 * The main thread's end of one data-plane worker thread: commands with their answers (in
 * order, each failing when the thread is gone), updates without, and the thread's events.
 */
export class WorkerHandle {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; what: string }>();
  private seq = 0;
  private stopping = false;
  private gone: Error | undefined;
  /** Resolves once the thread runs its message loop; rejects if it dies first. */
  readonly started: Promise<void>;

  constructor(readonly setup: WorkerSetup, private readonly events: WorkerEvents, private readonly log: Logger) {
    this.worker = new Worker(ownScript('agent/workers/worker-main.js'), { workerData: setup });
    let timer: NodeJS.Timeout | undefined;
    this.started = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new WorkerError(`data-plane worker ${setup.index} did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      this.worker.once('message', (msg: FromWorker) => (msg.type === 'ready' ? resolve() : reject(new WorkerError(`data-plane worker ${setup.index} sent ${msg.type} before it started`))));
      this.worker.once('exit', () => reject(this.gone ?? new WorkerError(`data-plane worker ${setup.index} exited during start-up`)));
    }).finally(() => clearTimeout(timer));
    this.started.catch(() => undefined);
    this.worker.on('message', (msg: FromWorker) => this.receive(msg));
    this.worker.on('error', (err) => {
      this.gone = new WorkerError(`data-plane worker ${setup.index} failed: ${err.message}`);
      this.log.error('data-plane worker failed', { worker: setup.index, error: err });
    });
    this.worker.on('exit', (code) => this.exited(code));
  }

  private receive(msg: FromWorker): void {
    switch (msg.type) {
      case 'reply': {
        const call = this.pending.get(msg.seq);
        this.pending.delete(msg.seq);
        if (!call) return;
        if (msg.error) call.reject(WorkerError.from(msg.error, `worker ${this.setup.index}: ${call.what}`));
        else call.resolve(msg.value);
        return;
      }
      case 'want-cert': this.events.wantCert(msg.id); return;
      case 'fatal': this.events.failed(msg.message); return;
      case 'ready': return;
    }
  }

  private exited(code: number): void {
    const err = this.gone ?? new WorkerError(`data-plane worker ${this.setup.index} exited (code ${code})`);
    this.gone = err;
    for (const call of this.pending.values()) call.reject(err);
    this.pending.clear();
    if (!this.stopping) this.events.failed(err.message);
  }

  call<T>(cmd: Command): Promise<T> {
    if (this.gone) return Promise.reject(this.gone);
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, what: cmd.type });
      this.worker.postMessage({ ...cmd, seq } satisfies ToWorker);
    });
  }

  post(update: Update): void {
    if (!this.gone) this.worker.postMessage(update);
  }

  /**
   * Ends the thread: it closes its listeners and connections (logging what was still open) and
   * exits; one that does not within a second is terminated.
   */
  async terminate(): Promise<void> {
    this.stopping = true;
    if (this.gone) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.post({ type: 'destroy' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), DESTROY_GRACE_MS); });
    if (await Promise.race([exited, late]) === 'late') await this.worker.terminate();
    clearTimeout(timer);
  }
}
