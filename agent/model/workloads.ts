import { placeOf, type Problems } from '../config/problems.js';
import { enrollmentOf, type AmbientNamespaces } from './enrollment.js';
import type { ParsedPod, ParsedWorkloadEntry, ParsedWorkloadSource } from './objects/parsed.js';
import type { MeshSettings, Workload } from './types.js';

/** The cluster id istiod puts into workload uids when it runs in a single cluster. */
export const CLUSTER_ID = 'Kubernetes';

/** A workload before services and policies are attached; `source` is kept for error reports. */
export type WorkloadDraft = Omit<Workload, 'services' | 'authorizationPolicies'> & { readonly source: ParsedWorkloadSource };

/** istiod's uid for a Pod: `<cluster>//Pod/<ns>/<name>` (the core group is empty). */
export function podUid(namespace: string, name: string): string {
  return `${CLUSTER_ID}//Pod/${namespace}/${name}`;
}

export function workloadEntryUid(namespace: string, name: string): string {
  return `${CLUSTER_ID}/networking.istio.io/WorkloadEntry/${namespace}/${name}`;
}

/**
 * The draft of one Pod or WorkloadEntry; none for a terminated pod, like istiod: its IP may
 * already belong to a new pod.
 */
export function buildWorkloadDraft(s: ParsedWorkloadSource, ambientNamespaces: AmbientNamespaces, settings: MeshSettings): WorkloadDraft | undefined {
  if (s.kind === 'WorkloadEntry') return fromWorkloadEntry(s, ambientNamespaces, settings);
  return s.terminated ? undefined : fromPod(s, ambientNamespaces, settings);
}

function fromPod(p: ParsedPod, ambient: AmbientNamespaces, settings: MeshSettings): WorkloadDraft {
  const networkMode = p.hostNetwork ? 'HostNetwork' : 'Standard';
  const { enrolled } = enrollmentOf({ kind: 'Pod', namespace: p.namespace, labels: p.labels, networkMode }, ambient);
  return {
    uid: podUid(p.namespace, p.name), kind: 'Pod', name: p.name, namespace: p.namespace,
    serviceAccount: p.serviceAccount, trustDomain: settings.trustDomain, addresses: p.addresses,
    labels: p.labels, node: p.node, protocol: enrolled ? 'HBONE' : 'TCP',
    status: p.healthy ? 'Healthy' : 'Unhealthy', namedPorts: p.namedPorts, networkMode,
    ...(p.uid !== undefined ? { podUid: p.uid } : {}), source: p,
  };
}

function fromWorkloadEntry(e: ParsedWorkloadEntry, ambient: AmbientNamespaces, settings: MeshSettings): WorkloadDraft {
  const { enrolled } = enrollmentOf({ kind: 'WorkloadEntry', namespace: e.namespace, labels: e.labels }, ambient);
  return {
    uid: workloadEntryUid(e.namespace, e.name), kind: 'WorkloadEntry', name: e.name, namespace: e.namespace,
    serviceAccount: e.serviceAccount, trustDomain: settings.trustDomain, addresses: [e.address],
    labels: e.labels, node: e.node, protocol: enrolled ? 'HBONE' : 'TCP', status: 'Healthy',
    namedPorts: e.ports, networkMode: 'Standard', source: e,
  };
}

/**
 * Two workloads claiming one IP is an error, since traffic to it could not be attributed
 * (host-network pods share the node IP and are exempt); the error names both places.
 */
export function reportAddressConflict(d: WorkloadDraft, ip: string, other: WorkloadDraft, problems: Problems): void {
  const path = d.kind === 'Pod' ? 'status' : 'spec.address';
  problems.error({ ...d.source.location, line: d.source.lineOf(path) }, path,
    `address ${ip} is also used by ${other.kind} ${other.namespace}/${other.name} at ${placeOf(other.source.location)}`);
}

/** Subset match: every selector label is present with the same value. */
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}
