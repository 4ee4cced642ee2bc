import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { formatProblem, type Problem } from '../config/problems.js';
import { formatWarningGroup, groupWarnings } from '../config/warning-summary.js';
import type { MeshSettings, MeshSnapshot } from '../model/types.js';
import type { Logger } from '../telemetry/log.js';
import { configLastReloadSuccessful, configReloads } from '../../metrics/agent.js';

/** helper A's `loadMeshConfig`: a snapshot only when there is no error. */
export type MeshConfigLoader = (path: string, settings: MeshSettings) => Promise<{ snapshot?: MeshSnapshot; problems: Problem[] }>;

/** The mesh config could not be loaded at start-up; `problems` lists every error. */
export class ConfigLoadError extends Error {
  readonly code = 'ERR_CONFIG_LOAD';
  constructor(readonly path: string, readonly problems: readonly Problem[]) {
    super(`mesh config ${path} has ${problems.filter((p) => p.severity === 'error').length} error(s):\n`
      + problems.map((p) => `  ${formatProblem(p)}`).join('\n'));
    this.name = 'ConfigLoadError';
  }
}

export interface MeshConfigOptions {
  readonly path: string;
  readonly settings: MeshSettings;
  readonly load: MeshConfigLoader;
  readonly log: Logger;
  /** Called with each newly applied snapshot (not for the initial one). */
  readonly onChange: (snapshot: MeshSnapshot) => void;
  /** Quiet period after a file event before reloading; editors write in bursts. */
  readonly debounceMs?: number;
}

/**
 * Owns the current mesh snapshot: loads it at start-up (all-or-nothing), then watches the config
 * path and swaps in each new valid snapshot. An invalid config is logged with every problem and
 * the last good snapshot keeps serving (DESIGN "Principles"); so does an empty config replacing
 * a non-empty one.
 */
export class MeshConfig {
  private snapshot: MeshSnapshot | undefined;
  private appliedAt = new Date();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;
  private again = false;

  constructor(private readonly opts: MeshConfigOptions) {}

  get current(): MeshSnapshot {
    if (!this.snapshot) throw new Error('mesh config not loaded yet');
    return this.snapshot;
  }

  get loadedAt(): Date {
    return this.appliedAt;
  }

  /** Start-up load; throws ConfigLoadError so the agent exits instead of serving nothing. */
  async initial(): Promise<MeshSnapshot> {
    const { snapshot, problems } = await this.opts.load(this.opts.path, this.opts.settings);
    if (!snapshot) throw new ConfigLoadError(this.opts.path, problems);
    this.logWarnings(problems);
    this.snapshot = snapshot;
    this.appliedAt = new Date();
    configLastReloadSuccessful.set(1);
    return snapshot;
  }

  /** Reloads now; resolves true when a new snapshot was applied. Overlapping calls coalesce. */
  reload(): Promise<boolean> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.reloadOnce().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.reload();
      }
    });
    return this.running;
  }

  private async reloadOnce(): Promise<boolean> {
    let result: Awaited<ReturnType<MeshConfigLoader>>;
    try {
      result = await this.opts.load(this.opts.path, this.opts.settings);
    } catch (err) {
      return this.rejected([], err);
    }
    if (!result.snapshot) return this.rejected(result.problems);
    if (isEmpty(result.snapshot) && this.snapshot && !isEmpty(this.snapshot)) return this.rejectedEmpty();
    this.logWarnings(result.problems);
    this.snapshot = result.snapshot;
    this.appliedAt = new Date();
    configReloads.inc({ result: 'success' });
    configLastReloadSuccessful.set(1);
    this.opts.log.info('mesh config reloaded', {
      path: this.opts.path, workloads: result.snapshot.workloads.size, services: result.snapshot.services.size,
      policies: result.snapshot.authorizations.size,
    });
    this.opts.onChange(result.snapshot);
    return true;
  }

  private rejected(problems: readonly Problem[], error?: unknown): false {
    configReloads.inc({ result: 'failure' });
    configLastReloadSuccessful.set(0);
    this.opts.log.error('mesh config rejected; keeping the last good config', {
      path: this.opts.path, error, problems: problems.filter((p) => p.severity === 'error').map(formatProblem),
    });
    return false;
  }

  /**
   * A writer that truncates the file and then writes it exposes an empty file in between; applying
   * it would drop every pod, policy and identity until the next event (failing open for policies).
   * The watch sees the completed write. Only a restart applies an intentionally empty config.
   */
  private rejectedEmpty(): false {
    configReloads.inc({ result: 'failure' });
    configLastReloadSuccessful.set(0);
    this.opts.log.warn('mesh config is empty; keeping the last good config', { path: this.opts.path });
    return false;
  }

  private logWarnings(problems: readonly Problem[]): void {
    for (const g of groupWarnings(problems)) this.opts.log.warn('mesh config warning', { problem: formatWarningGroup(g), count: g.count });
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

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}

/** Nothing that changes what the agent does: no workload, service, policy or ambient namespace. */
function isEmpty(s: MeshSnapshot): boolean {
  return s.workloads.size === 0 && s.services.size === 0 && s.authorizations.size === 0 && s.ambientNamespaces.size === 0;
}
