import { CompiledPolicies } from '../authz/index.js';
import { formatSpiffeId, type SpiffeId } from '../base/spiffe-id.js';
import { enrollmentOf, unlistedPodEnrollment, type PodEnrollment } from '../model/enrollment.js';
import type { Authorization, MeshSettings, MeshSnapshot, Service, Workload } from '../model/types.js';
import type { Logger } from '../telemetry/log.js';
import { fingerprint } from '../base/fingerprint.js';
import { ServiceIndexes, WorkloadIndexes } from './indexes.js';
import {
  isEmptyChange, type KeyChanges, type MeshView, type ResourceUpdates, type StateBatch, type StateChange, type StateListener,
} from './types.js';

/** One keyed resource type: the stored values, their fingerprints, and the change record of a batch. */
class Keyed<T> {
  readonly items = new Map<string, T>();
  private readonly prints = new Map<string, string>();

  /**
   * Applies upserts and removals, calling `onRemove`/`onAdd` around every stored value that
   * changes; returns what changed. An upsert identical to the stored value is not a change.
   */
  apply(updates: ResourceUpdates<T> | undefined, keyOf: (v: T) => string, replace: boolean,
    onAdd: (key: string, v: T) => void, onRemove: (key: string, v: T) => void): KeyChanges {
    const added: string[] = [];
    const changed: string[] = [];
    const removed: string[] = [];
    const upserted = new Set<string>();
    for (const value of updates?.upsert ?? []) {
      const key = keyOf(value);
      upserted.add(key);
      const print = fingerprint(value);
      const old = this.items.get(key);
      if (old !== undefined && this.prints.get(key) === print) continue;
      if (old !== undefined) onRemove(key, old);
      this.items.set(key, value);
      this.prints.set(key, print);
      onAdd(key, value);
      (old === undefined ? added : changed).push(key);
    }
    const removals = replace ? [...this.items.keys()].filter((k) => !upserted.has(k)) : updates?.remove ?? [];
    for (const key of removals) {
      const old = this.items.get(key);
      if (old === undefined || upserted.has(key)) continue;
      this.items.delete(key);
      this.prints.delete(key);
      onRemove(key, old);
      removed.push(key);
    }
    return { added, changed, removed };
  }
}

const noop = () => undefined;

/**
 * The agent's live mesh state: workloads by uid, services by `ns/hostname`, authorizations by
 * `ns/name` and the ambient namespaces, with every index and the compiled policies maintained
 * one resource at a time. Sources push batches; `apply()` is synchronous, so a reader never sees
 * half of one, and subscribers hear what changed once the whole batch is in.
 */
export class StateStore implements MeshView {
  private readonly workloads = new Keyed<Workload>();
  private readonly services = new Keyed<Service>();
  private readonly authorizations = new Keyed<Authorization>();
  private readonly ambient = new Keyed<string>();
  private readonly workloadIndexes = new WorkloadIndexes();
  private readonly serviceIndexes = new ServiceIndexes();
  private readonly identities = new WeakMap<Workload, SpiffeId>();
  private readonly listeners = new Set<StateListener>();
  /** Compiled per policy as authorizations arrive; what `authorize()` reads. */
  readonly policies = new CompiledPolicies();

  constructor(readonly settings: MeshSettings, private readonly log?: Logger) {}

  /** A store holding one whole snapshot (the CLI and tests evaluate a config this way). */
  static fromSnapshot(snapshot: MeshSnapshot): StateStore {
    const store = new StateStore(snapshot.settings);
    store.apply({
      workloads: { upsert: [...snapshot.workloads.values()] },
      services: { upsert: [...snapshot.services.values()] },
      authorizations: { upsert: [...snapshot.authorizations.values()] },
      ambientNamespaces: { upsert: [...snapshot.ambientNamespaces] },
    });
    return store;
  }

  apply(batch: StateBatch): StateChange {
    const replace = batch.replace === true;
    const change: StateChange = {
      workloads: this.workloads.apply(batch.workloads, (w) => w.uid, replace,
        (_k, w) => this.workloadIndexes.add(w), (_k, w) => this.workloadIndexes.delete(w)),
      services: this.services.apply(batch.services, serviceKey, replace,
        (k, s) => this.serviceIndexes.add(k, s), (k, s) => this.serviceIndexes.delete(k, s)),
      authorizations: this.authorizations.apply(batch.authorizations, authorizationKey, replace,
        (k, a) => this.policies.upsert(k, a), (k) => this.policies.remove(k)),
      ambientNamespaces: this.ambient.apply(batch.ambientNamespaces, (ns) => ns, replace, noop, noop),
    };
    if (!isEmptyChange(change)) {
      for (const listener of this.listeners) {
        // One failing subscriber must not keep the others from hearing of the change.
        try { listener(change); } catch (err) { this.log?.error('state subscriber failed', { error: err }); }
      }
    }
    return change;
  }

  /** Calls `listener` after every batch that changed something; returns the unsubscribe. */
  subscribe(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get counts(): { workloads: number; services: number; authorizations: number; ambientNamespaces: number } {
    return {
      workloads: this.workloads.items.size, services: this.services.items.size,
      authorizations: this.authorizations.items.size, ambientNamespaces: this.ambient.items.size,
    };
  }

  /** A copy of everything, for the admin dump and tests (O(state); never on the data path). */
  snapshot(): MeshSnapshot {
    return {
      settings: this.settings,
      workloads: new Map(this.workloads.items),
      services: new Map(this.services.items),
      authorizations: new Map(this.authorizations.items),
      ambientNamespaces: new Set(this.ambient.items.keys()),
    };
  }

  /**
   * The batch that brings a copy of this store from where it stood before `change` to where it
   * stands now (a data-plane worker thread's copy is kept this way), or, without `change`,
   * the whole state as a `replace`.
   */
  replicationBatch(change?: StateChange): StateBatch {
    if (!change) {
      return {
        replace: true,
        workloads: { upsert: [...this.workloads.items.values()] },
        services: { upsert: [...this.services.items.values()] },
        authorizations: { upsert: [...this.authorizations.items.values()] },
        ambientNamespaces: { upsert: [...this.ambient.items.keys()] },
      };
    }
    const updates = <T>(keyed: Keyed<T>, c: KeyChanges): ResourceUpdates<T> => ({
      upsert: [...c.added, ...c.changed].map((k) => keyed.items.get(k)).filter((v): v is T => v !== undefined),
      remove: c.removed,
    });
    return {
      workloads: updates(this.workloads, change.workloads),
      services: updates(this.services, change.services),
      authorizations: updates(this.authorizations, change.authorizations),
      ambientNamespaces: updates(this.ambient, change.ambientNamespaces),
    };
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.workloadIndexes.byAddress(ip);
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.workloads.items.get(uid);
  }

  workloadByName(namespace: string, name: string): Workload | undefined {
    return this.workloadIndexes.named(namespace, name);
  }

  serviceByVip(ip: string): Service | undefined {
    return this.serviceIndexes.byAddress(ip);
  }

  service(key: string): Service | undefined {
    return this.services.items.get(key);
  }

  authorization(key: string): Authorization | undefined {
    return this.authorizations.items.get(key);
  }

  endpoints(serviceKey: string): readonly Workload[] {
    return this.workloadIndexes.endpoints(serviceKey);
  }

  workloadsOnNode(node: string): readonly Workload[] {
    return this.workloadIndexes.onNode(node);
  }

  isAmbient(namespace: string): boolean {
    return this.ambient.items.has(namespace);
  }

  identityOf(w: Workload): SpiffeId {
    let id = this.identities.get(w);
    if (!id) {
      id = formatSpiffeId({ trustDomain: w.trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount });
      this.identities.set(w, id);
    }
    return id;
  }

  /**
   * Namespaces in which a pod may be in the mesh: the ambient ones and those with a pod enrolled
   * by its own label. O(workloads): for the enrollment state published to disk, never per connection.
   */
  meshNamespaces(): Set<string> {
    const out = new Set(this.ambient.items.keys());
    for (const w of this.workloads.items.values()) if (w.kind === 'Pod' && w.protocol === 'HBONE') out.add(w.namespace);
    return out;
  }

  /**
   * Whether the CNI plugin should capture a pod's traffic, and why (or why not). A pod the state
   * does not list yet is enrolled when its namespace is ambient, without a `workload`.
   */
  podEnrollment(namespace: string, name: string): PodEnrollment {
    const ambient = this.ambient.items;
    const w = this.workloadIndexes.named(namespace, name);
    if (!w || w.kind !== 'Pod') return unlistedPodEnrollment(namespace, name, ambient);
    return { ...enrollmentOf(w, ambient), workload: w };
  }
}

export function serviceKey(s: Service): string {
  return `${s.namespace}/${s.hostname}`;
}

export function authorizationKey(a: Authorization): string {
  return `${a.namespace}/${a.name}`;
}
