import type { SpiffeId } from '../base/spiffe-id.js';
import type { PodEnrollment } from '../model/enrollment.js';
import type { Authorization, MeshSettings, Service, Workload } from '../model/types.js';

/**
 * What readers of the mesh state see: every lookup the data plane makes per connection, all
 * O(1) (an IP that falls only into a ServiceEntry CIDR VIP scans those few CIDRs).
 */
export interface MeshView {
  readonly settings: MeshSettings;
  /** Accepts any textual form; IPv4-mapped IPv6 finds the IPv4 workload. */
  workloadByIp(ip: string): Workload | undefined;
  workloadByUid(uid: string): Workload | undefined;
  /** A Pod and a WorkloadEntry may share a name; the Pod wins. */
  workloadByName(namespace: string, name: string): Workload | undefined;
  serviceByVip(ip: string): Service | undefined;
  /** By key `ns/hostname`. */
  service(key: string): Service | undefined;
  endpoints(serviceKey: string): readonly Workload[];
  workloadsOnNode(node: string): readonly Workload[];
  identityOf(w: Workload): SpiffeId;
  podEnrollment(namespace: string, name: string): PodEnrollment;
}

/** Upserts and removals of one resource type; removals name keys. */
export interface ResourceUpdates<T> {
  readonly upsert?: readonly T[];
  readonly remove?: readonly string[];
}

/**
 * One push from a source, applied atomically. With `replace`, everything the batch does not
 * upsert is removed: a source that lost its incremental baseline (a restarted worker, a
 * reconnected stream) resends its whole state that way.
 */
export interface StateBatch {
  readonly workloads?: ResourceUpdates<Workload>;
  /** Keyed `ns/hostname`. */
  readonly services?: ResourceUpdates<Service>;
  /** Keyed `ns/name`. */
  readonly authorizations?: ResourceUpdates<Authorization>;
  /** Namespace names with `istio.io/dataplane-mode: ambient`. */
  readonly ambientNamespaces?: ResourceUpdates<string>;
  readonly replace?: boolean;
}

export interface KeyChanges {
  readonly added: readonly string[];
  readonly changed: readonly string[];
  readonly removed: readonly string[];
}

/** What one applied batch did, for subscribers; an upsert equal to what is stored is no change. */
export interface StateChange {
  readonly workloads: KeyChanges;
  readonly services: KeyChanges;
  readonly authorizations: KeyChanges;
  readonly ambientNamespaces: KeyChanges;
}

export type StateListener = (change: StateChange) => void;

/**
 * Whether open inbound connections must be re-authorized: a workload changed or left (its
 * identity, addresses or labels decided them) or an authorization changed.
 */
export function affectsAuthorization(c: StateChange): boolean {
  return c.workloads.changed.length + c.workloads.removed.length + c.authorizations.added.length
    + c.authorizations.changed.length + c.authorizations.removed.length > 0;
}

export function isEmptyChange(c: StateChange): boolean {
  return [c.workloads, c.services, c.authorizations, c.ambientNamespaces]
    .every((k) => k.added.length === 0 && k.changed.length === 0 && k.removed.length === 0);
}
