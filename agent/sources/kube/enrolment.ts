import { ENROLL_LABEL } from '../../model/enrollment.js';
import type { StateStore } from '../../state/store.js';
import type { Logger } from '../../telemetry/log.js';
import type { ConfigSource, SourceStatus } from '../types.js';
import { KubeApi, loadKubeConnection, type KubeConnection } from './api-client.js';
import { Reflector, DEFAULT_REFLECTOR_TIMING, type KubeObject, type ReflectorStatus, type ReflectorTiming } from './reflector.js';
import { KUBE_RESOURCES } from './resources.js';

/**
 * Enrolment from the Kubernetes API while istiod is the mesh source, the part of the work
 * istio-cni's node agent does next to ztunnel. istiod sends no namespaces, and it sends a pod as
 * HBONE only once the pod carries the annotation `ambient.istio.io/redirection: enabled`, which
 * the node's CNI agent writes after capturing the pod. So this feeds the ambient namespaces into
 * the store (a pod istiod has not announced yet is then captured at CNI ADD, and labelling a
 * namespace captures its running pods), and keeps that annotation on exactly the pods this agent
 * captures, removing it when a pod is released.
 */

export const REDIRECTION_ANNOTATION = 'ambient.istio.io/redirection';
const RETRY_MS = 5_000;

export interface KubeEnrolmentOptions {
  readonly kubeconfig: string | undefined;
  readonly store: StateStore;
  readonly log: Logger;
  /** Tests inject a connection and shorter timings. */
  readonly connection?: KubeConnection;
  readonly timing?: Partial<ReflectorTiming>;
}

export interface KubeEnrolmentStatus extends SourceStatus {
  readonly kube: { readonly namespaces: ReflectorStatus; readonly annotated: number; readonly annotationErrors: readonly string[] };
}

interface PodRef { readonly namespace: string; readonly name: string }

const NAMESPACES = KUBE_RESOURCES.find((r) => r.kind === 'Namespace')!;

export class KubeEnrolment implements ConfigSource {
  readonly name = 'kubernetes-enrolment';
  private api: KubeApi | undefined;
  private reflector: Reflector | undefined;
  private readonly abort = new AbortController();
  /** Pod key → whether the annotation is on it (as far as the last successful patch says). */
  private readonly annotated = new Map<string, boolean>();
  private wanted = new Map<string, PodRef>();
  private readonly errors = new Map<string, string>();
  private syncing: Promise<void> | undefined;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  private appliedAt: Date | undefined;
  private closed = false;

  constructor(private readonly opts: KubeEnrolmentOptions) {}

  async start(): Promise<void> {
    const connection = this.opts.connection ?? await loadKubeConnection(this.opts.kubeconfig);
    const api = this.api = new KubeApi(connection);
    let synced!: () => void;
    const ready = new Promise<void>((resolve) => { synced = resolve; });
    const ambient = (obj: KubeObject) => (obj.metadata as { labels?: Record<string, string> } | undefined)?.labels?.[ENROLL_LABEL] === 'ambient';
    this.reflector = new Reflector(NAMESPACES, api, {
      upsert: (_type, obj) => {
        const name = obj.metadata?.name ?? '';
        this.apply(ambient(obj) ? { upsert: [name] } : { remove: [name] });
      },
      remove: (_type, key) => this.apply({ remove: [key] }),
      synced: () => synced(),
    }, this.opts.log, { ...DEFAULT_REFLECTOR_TIMING, ...this.opts.timing });
    this.reflector.start();
    this.opts.log.info('kube: watching namespaces for enrolment; annotating captured pods', { server: connection.server });
    await ready;
  }

  private apply(ambientNamespaces: { upsert?: string[]; remove?: string[] }): void {
    if (this.closed) return;
    this.opts.store.apply({ ambientNamespaces });
    this.appliedAt = new Date();
  }

  /** The pods this agent captures now; the annotation follows, retried until the API takes it. */
  annotate(captured: readonly PodRef[]): void {
    this.wanted = new Map(captured.map((p) => [`${p.namespace}/${p.name}`, p]));
    this.kick();
  }

  private kick(): void {
    if (this.closed || !this.api) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = this.sync(this.api).finally(() => {
      this.syncing = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async sync(api: KubeApi): Promise<void> {
    const changes: [string, PodRef, boolean][] = [];
    for (const [key, pod] of this.wanted) if (this.annotated.get(key) !== true) changes.push([key, pod, true]);
    for (const key of this.annotated.keys()) {
      if (!this.wanted.has(key)) {
        const [namespace, name] = key.split('/') as [string, string];
        changes.push([key, { namespace, name }, false]);
      }
    }
    let failed = false;
    for (const [key, pod, on] of changes) {
      if (this.closed) return;
      const path = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}`;
      try {
        await api.mergePatch(path, { metadata: { annotations: { [REDIRECTION_ANNOTATION]: on ? 'enabled' : null } } }, this.abort.signal);
        this.errors.delete(key);
        if (on) this.annotated.set(key, true);
        else this.annotated.delete(key);
      } catch (err) {
        // A pod deleted meanwhile needs no annotation either way.
        if ((err as { status?: number }).status === 404) {
          this.annotated.delete(key);
          this.errors.delete(key);
          continue;
        }
        failed = true;
        this.errors.set(key, (err as Error).message);
        this.opts.log.warn('kube: could not set the redirection annotation; istiod keeps the pod as non-HBONE until it is set', { pod: key, enabled: on, error: (err as Error).message });
      }
    }
    if (failed && !this.retry && !this.closed) {
      this.retry = setTimeout(() => { this.retry = undefined; this.kick(); }, RETRY_MS);
    }
  }

  get loadedAt(): Date {
    return this.appliedAt ?? new Date(0);
  }

  status(): KubeEnrolmentStatus {
    const namespaces = this.reflector?.status() ?? { state: 'listing', objects: 0, watchRestarts: 0, relists: 0, events: 0 };
    const state = this.appliedAt === undefined && namespaces.state !== 'watching' ? 'starting' : namespaces.state === 'retrying' ? 'error' : 'synced';
    return {
      name: this.name, origin: this.api?.server ?? this.opts.kubeconfig ?? 'in-cluster', state,
      ...(this.appliedAt ? { lastAppliedAt: this.appliedAt.toISOString() } : {}),
      ...(namespaces.lastError !== undefined ? { lastError: namespaces.lastError } : {}),
      counts: { workloads: 0, services: 0, policies: 0 },
      kube: { namespaces, annotated: [...this.annotated.values()].filter(Boolean).length, annotationErrors: [...this.errors].map(([k, e]) => `${k}: ${e}`) },
    };
  }

  close(): void {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.abort.abort();
    this.reflector?.close();
  }
}
