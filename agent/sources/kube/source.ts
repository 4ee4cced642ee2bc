import { formatProblem } from '../../config/problems.js';
import type { MeshSettings } from '../../model/types.js';
import { MeshTranslator, inputKey, type TranslatorInput } from '../../model/translate/translator.js';
import type { StateStore } from '../../state/store.js';
import type { Logger } from '../../telemetry/log.js';
import { kubeRejectedObjects, kubeTranslateSeconds } from '../../../metrics/kube.js';
import type { ConfigSource, SourceStatus } from '../types.js';
import { KubeApi, loadKubeConnection, type KubeConnection } from './api-client.js';
import { DEFAULT_REFLECTOR_TIMING, Reflector, objectKey, type KubeObject, type ReflectorStatus, type ReflectorTiming, type ResourceType } from './reflector.js';
import { KUBE_RESOURCES, translationRank } from './resources.js';
import { failClosedStandIn, toTranslatorInput } from './to-input.js';

export interface KubeSourceOptions {
  /** A kubeconfig file; undefined means the pod's in-cluster config. */
  readonly kubeconfig?: string | undefined;
  readonly settings: MeshSettings;
  readonly store: StateStore;
  readonly log: Logger;
  readonly timing?: Partial<ReflectorTiming>;
  /** Objects translated per turn of the event loop; bounds how long one turn is held. */
  readonly chunkSize?: number;
  /** How long a new event waits for others to share its translation turn. */
  readonly coalesceMs?: number;
  /** An already configured connection (tests); otherwise loaded from `kubeconfig` or the cluster. */
  readonly connection?: KubeConnection;
}

export interface KubeSourceStatus extends SourceStatus {
  readonly kube: {
    readonly server: string;
    readonly resources: Record<string, ReflectorStatus>;
    /** Objects currently refused, newest last: `kind ns/name` and why. */
    readonly rejected: readonly { readonly object: string; readonly problems: readonly string[]; readonly standIn: boolean }[];
  };
}

const DEFAULT_CHUNK = 25;
const DEFAULT_COALESCE_MS = 10;
const MAX_REJECTED_SHOWN = 50;

interface PendingObject {
  readonly type: ResourceType;
  /** undefined: removed. */
  readonly obj: KubeObject | undefined;
  readonly key: string;
}

/**
 * The Kubernetes API as the mesh source: one reflector per resource type feeds the objects it
 * sees into a coalescing queue (the latest version of an object wins), and the queue is
 * translated in chunks, one chunk per turn of the event loop, with the same incremental
 * translator the YAML source uses; each chunk reaches the store as one batch. `start()`
 * resolves once every type has been listed and translated. When the API server is lost the
 * reflectors retry and the store keeps the last state.
 *
 * An object that fails validation is refused: its previous version, if any, keeps serving; a new
 * security object is replaced by a fail-closed stand-in; any other new object stays out of the
 * mesh. Either way the problem is logged, counted and shown in the status.
 */
export class KubeSource implements ConfigSource {
  readonly name = 'kubernetes';
  private readonly translator: MeshTranslator;
  private readonly reflectors: Reflector[] = [];
  private readonly queue: Map<string, PendingObject>[] = [new Map(), new Map(), new Map()];
  /** What the translator holds for each object (by type and object key): its input key. */
  private readonly held = new Map<string, string>();
  private readonly rejected = new Map<string, { object: string; problems: readonly string[]; standIn: boolean }>();
  private readonly unsynced = new Set<string>(KUBE_RESOURCES.map((r) => r.name));
  private api: KubeApi | undefined;
  /** Cancels the pending translation turn, if one is scheduled. */
  private scheduled: (() => void) | undefined;
  private ready: (() => void) | undefined;
  private appliedAt: Date | undefined;
  private closed = false;

  constructor(private readonly opts: KubeSourceOptions) {
    this.translator = new MeshTranslator(opts.settings);
  }

  get loadedAt(): Date {
    return this.appliedAt ?? new Date(0);
  }

  async start(): Promise<void> {
    const connection = this.opts.connection ?? await loadKubeConnection(this.opts.kubeconfig);
    this.api = new KubeApi(connection);
    const timing = { ...DEFAULT_REFLECTOR_TIMING, ...this.opts.timing };
    const synced = new Promise<void>((resolve) => { this.ready = resolve; });
    const sink = {
      upsert: (type: ResourceType, obj: KubeObject) => this.enqueue(type, objectKey(obj), obj),
      remove: (type: ResourceType, key: string) => this.enqueue(type, key, undefined),
      synced: (type: ResourceType) => { this.unsynced.delete(type.name); this.schedule(); },
    };
    for (const type of KUBE_RESOURCES) {
      const reflector = new Reflector(type, this.api, sink, this.opts.log, timing);
      this.reflectors.push(reflector);
      reflector.start();
    }
    this.opts.log.info('kube: listing and watching', { server: connection.server, resources: KUBE_RESOURCES.map((r) => r.name) });
    await synced;
  }

  /** SIGHUP: every watch reconnects, with credentials read again. */
  async reload(): Promise<boolean> {
    for (const r of this.reflectors) r.reconnect();
    return true;
  }

  private enqueue(type: ResourceType, key: string, obj: KubeObject | undefined): void {
    this.queue[translationRank(type.kind)]!.set(`${type.name}|${key}`, { type, obj, key });
    this.schedule(this.opts.coalesceMs ?? DEFAULT_COALESCE_MS);
  }

  /**
   * A new event waits `delayMs` so the events of a burst (a rollout, a relabelled namespace) share
   * one translation turn; a backlog is worked off turn after turn with only I/O in between.
   */
  private schedule(delayMs = 0): void {
    if (this.scheduled || this.closed) return;
    const run = () => {
      this.scheduled = undefined;
      this.flush();
    };
    if (delayMs > 0) {
      const timer = setTimeout(run, delayMs);
      this.scheduled = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(run);
      this.scheduled = () => clearImmediate(immediate);
    }
  }

  /** Translates and applies up to one chunk of queued objects, then yields to the event loop. */
  private flush(): void {
    const started = performance.now();
    const upsert: TranslatorInput[] = [];
    const remove: string[] = [];
    let budget = this.opts.chunkSize ?? DEFAULT_CHUNK;
    for (const level of this.queue) {
      for (const [id, p] of level) {
        if (budget-- <= 0) break;
        level.delete(id);
        this.take(id, p, upsert, remove);
      }
    }
    if (upsert.length > 0 || remove.length > 0) {
      this.translate(upsert, remove);
      kubeTranslateSeconds.observe((performance.now() - started) / 1000);
    }
    if (this.queue.some((l) => l.size > 0)) this.schedule();
    else if (this.unsynced.size === 0 && this.ready) {
      this.ready();
      this.ready = undefined;
      this.appliedAt ??= new Date();
      this.opts.log.info('kube: initial state applied', { ...this.translator.size });
    }
  }

  private take(id: string, p: PendingObject, upsert: TranslatorInput[], remove: string[]): void {
    const held = this.held.get(id);
    if (!p.obj) {
      this.rejected.delete(id);
      if (held !== undefined) { remove.push(held); this.held.delete(id); }
      return;
    }
    const converted = toTranslatorInput(p.type, p.obj);
    if (converted.ok) {
      this.rejected.delete(id);
      if (held !== undefined && held !== inputKey(converted.input)) remove.push(held);
      this.held.set(id, inputKey(converted.input));
      upsert.push(converted.input);
      return;
    }
    const standIn = held === undefined ? failClosedStandIn(p.type.kind, p.obj) : undefined;
    const object = `${p.type.kind} ${p.key}`;
    this.rejected.delete(id);
    this.rejected.set(id, { object, problems: converted.problems, standIn: standIn !== undefined });
    kubeRejectedObjects.inc({ kind: p.type.kind });
    this.opts.log.error(held !== undefined ? 'kube: object refused; its previous version keeps serving'
      : standIn ? 'kube: security object refused; a deny-all stands in for it until it is fixed (fail closed)'
        : 'kube: object refused; it stays out of the mesh until it is fixed', { object, problems: converted.problems });
    if (standIn) {
      this.held.set(id, inputKey(standIn));
      upsert.push(standIn);
    }
  }

  private translate(upsert: TranslatorInput[], remove: string[]): void {
    const pending = this.translator.update(upsert, remove);
    pending.commit();
    const errors = pending.problems.filter((p) => p.severity === 'error');
    if (errors.length > 0) {
      this.opts.log.warn('kube: translation problems (the objects named are left out)', { problems: errors.slice(0, 10).map(formatProblem), count: errors.length });
    }
    const { delta } = pending;
    this.opts.store.apply({
      workloads: delta.workloads, services: delta.services, authorizations: delta.authorizations, ambientNamespaces: delta.ambientNamespaces,
    });
    if (!this.ready) this.appliedAt = new Date();
  }

  status(): KubeSourceStatus {
    const resources = Object.fromEntries(this.reflectors.map((r) => [r.type.name, r.status()]));
    const failing = Object.values(resources).find((r) => r.state === 'retrying');
    const state = this.appliedAt === undefined ? 'starting' : failing ? 'error' : 'synced';
    return {
      name: this.name, origin: this.api?.server ?? this.opts.kubeconfig ?? 'in-cluster', state,
      ...(this.appliedAt ? { lastAppliedAt: this.appliedAt.toISOString() } : {}),
      ...(failing?.lastError !== undefined ? { lastError: failing.lastError } : {}),
      counts: this.translator.size,
      kube: { server: this.api?.server ?? '', resources, rejected: [...this.rejected.values()].slice(-MAX_REJECTED_SHOWN) },
    };
  }

  close(): void {
    this.closed = true;
    this.scheduled?.();
    for (const r of this.reflectors) r.close();
    this.ready?.();
  }
}
