import type { IncomingMessage } from 'node:http';
import { MeshnodeError } from '../../base/errors.js';
import { kubeErrors, kubeEvents, kubeRelists, kubeResourceSynced, kubeWatchRestarts } from '../../../metrics/kube.js';
import type { Logger } from '../../telemetry/log.js';
import { KubeApiError, type KubeApi, type KubeStatus } from './api-client.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffTiming } from './backoff.js';

/** An object as the API returns it; only metadata is read here. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string };
  readonly [field: string]: unknown;
}

/** One resource type to list and watch: its API group path for each version, preferred first. */
export interface ResourceType {
  /** Metric label and status key: `pods`, `authorizationpolicies.security.istio.io`. */
  readonly name: string;
  /** Collection paths, one per API version, preferred first (`/apis/security.istio.io/v1/authorizationpolicies`). */
  readonly paths: readonly string[];
  readonly kind: string;
  /** A CustomResourceDefinition that may not be installed: 404 means "none yet", checked again later. */
  readonly optional: boolean;
}

/** What a reflector reports: each object that appeared or changed, and each that went away. */
export interface ReflectorSink {
  upsert(type: ResourceType, obj: KubeObject): void;
  remove(type: ResourceType, key: string): void;
  /** The first complete list (or, for a missing optional type, its absence) is in. */
  synced(type: ResourceType): void;
}

export interface ReflectorTiming {
  /** Server-side watch timeout, random in [min, max] seconds per watch, as client-go does. */
  readonly watchMinSeconds: number;
  readonly watchMaxSeconds: number;
  /** A watch that receives nothing (not even a bookmark) for its timeout plus this is treated as dead. */
  readonly inactivitySlackMs: number;
  /** How often a missing CustomResourceDefinition is looked for again. */
  readonly missingRecheckMs: number;
  /** Objects per list page; bounds the JSON parsed in one piece. */
  readonly pageSize: number;
  readonly backoff: BackoffTiming;
}

export const DEFAULT_REFLECTOR_TIMING: ReflectorTiming = {
  watchMinSeconds: 300, watchMaxSeconds: 600, inactivitySlackMs: 30_000, missingRecheckMs: 30_000, pageSize: 250, backoff: DEFAULT_BACKOFF,
};

/** One watch event is one object; anything this long without a newline is a broken stream, not data. */
const MAX_EVENT_CHARS = 16 * 1024 * 1024;

/** The watch's resourceVersion is older than the server's history: relist. */
class ResourceExpired extends MeshnodeError {
  readonly code = 'ERR_KUBE_EXPIRED';
}

export type ReflectorState = 'listing' | 'watching' | 'missing' | 'retrying' | 'stopped';

export interface ReflectorStatus {
  readonly state: ReflectorState;
  /** The served version in use (`security.istio.io/v1`), when one was found. */
  readonly apiVersion?: string;
  readonly resourceVersion?: string;
  readonly objects: number;
  readonly lastListAt?: string;
  readonly lastError?: string;
  readonly watchRestarts: number;
  readonly relists: number;
  readonly events: number;
}

export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : obj.metadata?.name ?? '';
}

/**
 * client-go's reflector for one resource type, on plain HTTP: list (paged) → watch from the list's
 * resourceVersion with bookmarks and a server timeout → re-watch from the last version seen when a
 * watch ends → relist when the version has expired (410), reporting objects that vanished in
 * between as removed → back off with jitter on any other failure, never giving up. Keeps only
 * each object's key and resourceVersion, to tell changes from repeats after a relist.
 */
export class Reflector {
  private readonly known = new Map<string, string>();
  private readonly backoff: Backoff;
  private resourceVersion: string | undefined;
  private pathIndex = 0;
  private state: ReflectorState = 'listing';
  private abort = new AbortController();
  private closed = false;
  private lastListAt: Date | undefined;
  private lastError: string | undefined;
  private counts = { watchRestarts: 0, relists: 0, events: 0 };
  private wasSynced = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly type: ResourceType, private readonly api: KubeApi, private readonly sink: ReflectorSink,
    private readonly log: Logger, private readonly timing: ReflectorTiming = DEFAULT_REFLECTOR_TIMING,
  ) {
    this.backoff = new Backoff(timing.backoff);
  }

  start(): void {
    void this.run();
  }

  /** Ends the current request; the loop re-watches from the last version (credentials re-read). */
  reconnect(): void {
    this.abort.abort();
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.state = 'stopped';
    this.abort.abort();
    this.wake?.();
    kubeResourceSynced.set({ resource: this.type.name }, 0);
  }

  status(): ReflectorStatus {
    const path = this.type.paths[this.pathIndex]!;
    return {
      state: this.state,
      ...(this.state !== 'missing' && this.resourceVersion !== undefined ? { apiVersion: apiVersionOf(path), resourceVersion: this.resourceVersion } : {}),
      objects: this.known.size,
      ...(this.lastListAt ? { lastListAt: this.lastListAt.toISOString() } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...this.counts,
    };
  }

  private async run(): Promise<void> {
    let relistReason = 'initial';
    while (!this.closed) {
      this.abort = new AbortController();
      try {
        if (this.resourceVersion === undefined) {
          await this.list(relistReason);
        }
        await this.watch();
        this.countRestart('timeout');
      } catch (err) {
        if (this.closed) return;
        if (err instanceof ResourceExpired) {
          this.log.info('kube: resourceVersion expired; relisting', { resource: this.type.name, resourceVersion: this.resourceVersion });
          this.resourceVersion = undefined;
          relistReason = 'expired';
          this.countRestart('expired');
          continue;
        }
        if (err instanceof KubeApiError && err.status === 404 && this.type.optional) {
          await this.typeMissing();
          relistReason = 'recheck';
          continue;
        }
        if (this.abort.signal.aborted && !(err instanceof InactiveWatch)) {
          this.countRestart('reconnect');
          continue;
        }
        this.failed(err);
        await this.sleep(this.backoff.next());
      }
    }
  }

  private countRestart(reason: string): void {
    this.counts.watchRestarts++;
    kubeWatchRestarts.inc({ resource: this.type.name, reason });
  }

  private failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = message;
    if (this.state !== 'missing') this.state = 'retrying';
    kubeErrors.inc({ resource: this.type.name, reason: err instanceof KubeApiError && err.status > 0 ? `http_${err.status}` : 'connection' });
    this.log.warn('kube: list/watch failed; retrying with backoff (the last state keeps serving)', { resource: this.type.name, error: message });
  }

  /**
   * The version tried is not served. The next one is tried at once; when none is, the CRD is not
   * installed (or was removed): everything it held is gone, and it is looked for again later,
   * preferred version first.
   */
  private async typeMissing(): Promise<void> {
    // Another version (or the same one later) starts from a list of its own.
    this.resourceVersion = undefined;
    if (this.pathIndex + 1 < this.type.paths.length) {
      this.pathIndex++;
      return;
    }
    this.pathIndex = 0;
    if (this.state !== 'missing') {
      this.log.warn('kube: resource type is not served; treating it as empty and checking again', {
        resource: this.type.name, versions: this.type.paths.map(apiVersionOf), recheckMs: this.timing.missingRecheckMs,
      });
    }
    this.state = 'missing';
    this.removeUnseen(new Set());
    this.markSynced();
    await this.sleep(this.timing.missingRecheckMs);
  }

  private markSynced(): void {
    kubeResourceSynced.set({ resource: this.type.name }, 1);
    if (this.wasSynced) return;
    this.wasSynced = true;
    this.sink.synced(this.type);
  }

  private async list(reason: string): Promise<void> {
    this.state = this.state === 'missing' ? 'missing' : 'listing';
    const path = this.type.paths[this.pathIndex]!;
    const seen = new Set<string>();
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const query = new URLSearchParams({ limit: String(this.timing.pageSize) });
      if (cont) query.set('continue', cont);
      let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] };
      try {
        page = await this.api.getJson(`${path}?${query}`, this.abort.signal);
      } catch (err) {
        // An expired continue token: the snapshot is gone, start the list again.
        if (err instanceof KubeApiError && err.status === 410) throw new ResourceExpired(err.message);
        throw err;
      }
      // Each page is handed on as it arrives; only the keys are kept to find what vanished.
      this.applyPage(page.items ?? [], apiVersionOf(path), seen);
      resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue || undefined;
    } while (cont);
    kubeRelists.inc({ resource: this.type.name, reason });
    this.counts.relists++;
    if (this.state === 'missing') this.log.info('kube: resource type is served now', { resource: this.type.name, apiVersion: apiVersionOf(path) });
    this.removeUnseen(seen);
    this.resourceVersion = resourceVersion;
    this.lastListAt = new Date();
    this.lastError = undefined;
    this.state = 'watching';
    this.markSynced();
  }

  /** Objects of a list page that are new or changed (by resourceVersion) since this reflector last saw them. */
  private applyPage(items: readonly KubeObject[], apiVersion: string, seen: Set<string>): void {
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      const rv = obj.metadata?.resourceVersion ?? '';
      if (this.known.get(key) === rv) continue;
      this.known.set(key, rv);
      // List items of built-in types leave out apiVersion and kind; watch events carry them.
      this.sink.upsert(this.type, obj.apiVersion ? obj : { ...obj, apiVersion, kind: this.type.kind });
    }
  }

  /** A complete list is the whole truth: what it did not contain is gone. */
  private removeUnseen(seen: ReadonlySet<string>): void {
    for (const key of [...this.known.keys()]) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      this.sink.remove(this.type, key);
    }
  }

  private async watch(): Promise<void> {
    const path = this.type.paths[this.pathIndex]!;
    const { watchMinSeconds: min, watchMaxSeconds: max } = this.timing;
    const timeoutSeconds = min + Math.floor(Math.random() * (max - min + 1));
    const query = new URLSearchParams({
      watch: 'true', resourceVersion: this.resourceVersion ?? '', allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds),
    });
    let res: IncomingMessage;
    try {
      res = await this.api.open(`${path}?${query}`, this.abort.signal);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 410) throw new ResourceExpired(err.message);
      throw err;
    }
    this.state = 'watching';
    this.lastError = undefined;
    const started = Date.now();
    const eventsBefore = this.counts.events;
    await this.readEvents(res, timeoutSeconds * 1000 + this.timing.inactivitySlackMs);
    // A server (or proxy) that ends every watch at once would otherwise be re-watched in a hot loop.
    if (Date.now() - started < 1_000 && this.counts.events === eventsBefore) {
      throw new KubeApiError(`watch ${this.type.name} ended at once without an event`, 200);
    }
  }

  /** Newline-delimited watch events until the server ends the stream. */
  private readEvents(res: IncomingMessage, inactivityMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let buffer = '';
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        res.destroy();
        if (err === undefined) resolve(); else reject(err);
      };
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => { this.abort.abort(); finish(new InactiveWatch(`watch received nothing for ${inactivityMs} ms`)); }, inactivityMs);
        timer.unref();
      };
      arm();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        arm();
        buffer += chunk;
        if (buffer.length > MAX_EVENT_CHARS) {
          finish(new KubeApiError(`watch ${this.type.name}: an event larger than ${MAX_EVENT_CHARS} characters`, 200));
          return;
        }
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.trim() === '') continue;
          try {
            this.onEvent(line);
          } catch (err) {
            finish(err);
            return;
          }
        }
      });
      res.on('end', () => finish());
      res.on('error', (err) => finish(new KubeApiError(`watch ${this.type.name}: ${err.message}`, 0, '', { cause: err })));
      res.on('close', () => finish(this.abort.signal.aborted ? new KubeApiError(`watch ${this.type.name} aborted`, 0) : undefined));
    });
  }

  private onEvent(line: string): void {
    let event: { type?: string; object?: KubeObject };
    try {
      event = JSON.parse(line) as typeof event;
    } catch (err) {
      throw new KubeApiError(`watch ${this.type.name}: an event is not JSON: ${(err as Error).message}`, 200);
    }
    const obj = event.object ?? {};
    const type = event.type ?? '';
    if (type === 'ERROR') {
      const status = obj as KubeStatus;
      if (status.code === 410) throw new ResourceExpired(status.message ?? 'resourceVersion expired');
      throw new KubeApiError(`watch ${this.type.name}: ${status.message ?? 'error event'}`, status.code ?? 0, status.reason ?? '');
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK') {
      throw new KubeApiError(`watch ${this.type.name}: unknown event type "${type}"`, 200);
    }
    this.counts.events++;
    kubeEvents.inc({ resource: this.type.name, type });
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const key = objectKey(obj);
    if (type === 'DELETED') {
      if (this.known.delete(key)) this.sink.remove(this.type, key);
      return;
    }
    this.known.set(key, rv ?? '');
    this.sink.upsert(this.type, obj);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      timer.unref();
      this.wake = () => { clearTimeout(timer); this.wake = undefined; resolve(); };
    });
  }
}

/** A watch connection that went silent past its own timeout: dead, though no error arrived. */
class InactiveWatch extends MeshnodeError {
  readonly code = 'ERR_KUBE_WATCH_INACTIVE';
}

/** `security.istio.io/v1` of `/apis/security.istio.io/v1/authorizationpolicies`, `v1` of `/api/v1/pods`. */
function apiVersionOf(path: string): string {
  const parts = path.split('/');
  return parts[1] === 'api' ? parts[2]! : `${parts[2]}/${parts[3]}`;
}
