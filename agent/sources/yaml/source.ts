import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ownScript } from '../../base/install-layout.js';
import { MeshnodeError } from '../../base/errors.js';
import { formatProblem, type Problem } from '../../config/problems.js';
import { formatWarningGroup, groupWarnings } from '../../config/warning-summary.js';
import type { MeshSettings } from '../../model/types.js';
import type { StateStore } from '../../state/store.js';
import type { StateChange } from '../../state/types.js';
import type { Logger } from '../../telemetry/log.js';
import { configLastReloadSuccessful, configReloads } from '../../../metrics/agent.js';
import type { ConfigSource, SourceStatus } from '../types.js';
import type { LoadAnswer, LoadCounts, WorkerSetup } from './messages.js';

/** The mesh config could not be loaded at start-up; `problems` lists every error. */
export class ConfigLoadError extends MeshnodeError {
  readonly code = 'ERR_CONFIG_LOAD';
  constructor(readonly path: string, readonly problems: readonly Problem[]) {
    super(`mesh config ${path} has ${problems.filter((p) => p.severity === 'error').length} error(s):\n`
      + problems.map((p) => `  ${formatProblem(p)}`).join('\n'));
  }
}

export interface YamlSourceOptions {
  readonly path: string;
  readonly settings: MeshSettings;
  readonly store: StateStore;
  readonly log: Logger;
  /** Quiet period after a file event before reloading; editors write in bursts. */
  readonly debounceMs?: number;
  /** A load that takes longer is abandoned and its worker replaced (a wedged read, a runaway file). */
  readonly loadTimeoutMs?: number;
}

const DEFAULT_LOAD_TIMEOUT_MS = 60_000;
/**
 * A config with fewer resources than this has its worker ended after every load: a worker's
 * isolate holds ~10 MB, and applying a small config whole (the next worker's first answer)
 * costs the event loop well under a millisecond. Above it the worker stays, so a reload of a
 * big mesh ships only what changed.
 */
export const KEEP_WORKER_RESOURCES = 500;

/**
 * The local YAML config as a source. A worker thread reads, parses and translates it and
 * answers with the difference from the last accepted config; only that difference is applied
 * to the store, in one batch, so the event loop carrying traffic never parses or translates.
 * A config is accepted whole or not at all; an invalid one is logged with every problem and
 * the last good state keeps serving; so does an empty config replacing a non-empty one.
 */
export class YamlSource implements ConfigSource {
  readonly name = 'yaml';
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (a: LoadAnswer) => void; timer: NodeJS.Timeout }>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;
  private again = false;
  private closed = false;
  private appliedAt: Date | undefined;
  private lastError: string | undefined;
  private counts: LoadCounts = { workloads: 0, services: 0, policies: 0 };

  constructor(private readonly opts: YamlSourceOptions) {}

  /** Whether the translation worker is running now (it is ended between loads of a small config). */
  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  get loadedAt(): Date {
    return this.appliedAt ?? new Date(0);
  }

  /** Start-up load; throws ConfigLoadError so the agent exits instead of serving nothing. */
  async start(): Promise<void> {
    const answer = await this.load();
    if (answer.result === 'rejected') throw new ConfigLoadError(this.opts.path, answer.problems);
    if (answer.result === 'failed') throw new ConfigLoadError(this.opts.path, [startupProblem(this.opts.path, answer.error)]);
    if (answer.result === 'accepted') this.accept(answer, false);
    else this.appliedAt = new Date();
    configLastReloadSuccessful.set(1);
  }

  /** Reloads now; resolves true when a new config was accepted. Overlapping calls coalesce. */
  reload(): Promise<boolean> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.reloadOnce().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.reload();
      }
    });
    return this.running;
  }

  private async reloadOnce(): Promise<boolean> {
    if (this.closed) return false;
    const answer = await this.load();
    switch (answer.result) {
      case 'accepted':
        this.accept(answer, true);
        configReloads.inc({ result: 'success' });
        configLastReloadSuccessful.set(1);
        return true;
      case 'rejected':
        return this.rejected('mesh config rejected; keeping the last good config',
          { problems: answer.problems.filter((p) => p.severity === 'error').map(formatProblem) },
          `${answer.problems.filter((p) => p.severity === 'error').length} error(s)`);
      case 'empty':
        return this.rejected('mesh config is empty; keeping the last good config', {}, 'config is empty', 'warn');
      case 'failed':
        return this.rejected('mesh config load failed; keeping the last good config', { error: answer.error }, answer.error.split('\n')[0]!);
    }
  }

  private accept(answer: Extract<LoadAnswer, { result: 'accepted' }>, isReload: boolean): void {
    const { delta } = answer;
    const change = this.opts.store.apply({
      workloads: delta.workloads, services: delta.services, authorizations: delta.authorizations,
      ambientNamespaces: delta.ambientNamespaces, replace: answer.full,
    });
    this.appliedAt = new Date();
    this.lastError = undefined;
    this.counts = answer.counts;
    this.logWarnings(answer.problems);
    this.opts.log.info(isReload ? 'mesh config reloaded' : 'mesh config loaded', {
      path: this.opts.path, ...answer.counts, changes: summarize(change), recomputed: answer.recomputed,
    });
  }

  private rejected(message: string, fields: Record<string, unknown>, summary: string, level: 'error' | 'warn' = 'error'): false {
    configReloads.inc({ result: 'failure' });
    configLastReloadSuccessful.set(0);
    this.lastError = summary;
    this.opts.log[level](message, { path: this.opts.path, ...fields });
    return false;
  }

  private logWarnings(problems: readonly Problem[]): void {
    for (const g of groupWarnings(problems)) this.opts.log.warn('mesh config warning', { problem: formatWarningGroup(g), count: g.count });
  }

  /** One request to the worker (started on demand); a lost or overdue worker is replaced. */
  private load(): Promise<LoadAnswer> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.opts.log.error('mesh config load timed out; restarting the config worker', { path: this.opts.path, timeoutMs: this.timeoutMs });
        this.dropWorker(`load timed out after ${this.timeoutMs} ms`);
      }, this.timeoutMs);
      timer.unref();
      this.waiting.set(id, { resolve, timer });
      worker.postMessage({ id });
    });
  }

  private get timeoutMs(): number {
    return this.opts.loadTimeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS;
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const setup: WorkerSetup = { path: this.opts.path, settings: this.opts.settings, hadConfig: total(this.counts) > 0 };
    const worker = new Worker(ownScript('agent/sources/yaml/worker.js'), { workerData: setup });
    worker.unref();
    worker.on('message', (answer: LoadAnswer) => {
      const waiter = this.waiting.get(answer.id);
      if (!waiter) return;
      this.waiting.delete(answer.id);
      clearTimeout(waiter.timer);
      // The size of what will be served once this answer is handled decides whether the worker stays.
      if (total(answer.result === 'accepted' ? answer.counts : this.counts) < KEEP_WORKER_RESOURCES) this.endIdleWorker(worker);
      waiter.resolve(answer);
    });
    worker.on('error', (err) => {
      this.opts.log.error('config worker failed; it is restarted on the next load', { error: err });
      this.dropWorker(`config worker failed: ${err.message}`);
    });
    worker.on('exit', () => { if (this.worker === worker) this.dropWorker('config worker exited'); });
    this.worker = worker;
    return worker;
  }

  /** Ends a worker with nothing left to answer; the next load starts a fresh one. */
  private endIdleWorker(worker: Worker): void {
    if (this.worker !== worker || this.waiting.size > 0) return;
    this.worker = undefined;
    void worker.terminate();
  }

  private dropWorker(reason: string): void {
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      waiter.resolve({ id, result: 'failed', error: reason });
    }
    this.waiting.clear();
  }

  /**
   * Watches the config (a file: its directory, so atomic renames and Kubernetes ConfigMap
   * `..data` swaps are seen; a directory: its entries) and reloads after a quiet period.
   */
  watch(): void {
    const isDir = statSync(this.opts.path, { throwIfNoEntry: false })?.isDirectory() ?? false;
    const dir = isDir ? this.opts.path : dirname(this.opts.path);
    const name = basename(this.opts.path);
    this.watcher = watch(dir, (_event, file) => {
      if (!isDir && file !== null && file !== name && !file.startsWith('..')) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), this.opts.debounceMs ?? 200);
      this.timer.unref();
    });
    this.watcher.on('error', (err) => this.opts.log.warn('config watch failed; reload with SIGHUP', { error: err }));
  }

  status(): SourceStatus {
    return {
      name: this.name, origin: this.opts.path,
      state: this.appliedAt === undefined ? 'starting' : this.lastError !== undefined ? 'error' : 'synced',
      ...(this.appliedAt ? { lastAppliedAt: this.appliedAt.toISOString() } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      counts: this.counts,
    };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    this.dropWorker('source closed');
  }
}

const total = (c: LoadCounts) => c.workloads + c.services + c.policies;

function summarize(c: StateChange): Record<string, string> {
  const line = (k: { added: readonly string[]; changed: readonly string[]; removed: readonly string[] }) => `+${k.added.length} ~${k.changed.length} -${k.removed.length}`;
  return { workloads: line(c.workloads), services: line(c.services), authorizations: line(c.authorizations), ambientNamespaces: line(c.ambientNamespaces) };
}

function startupProblem(path: string, error: string): Problem {
  return { severity: 'error', location: { file: path, index: 0, line: 0, kind: '', namespace: '', name: '' }, path: '', message: error.split('\n')[0]! };
}
