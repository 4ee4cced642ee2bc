import { formatSpiffeId, type SpiffeId } from '../identity/spiffe-id.js';
import { enrollmentOf, unlistedPodEnrollment, type Enrollment } from './enrollment.js';
import { canonicalIp, cidrContains, ipToBytes, parseCidr, type ParsedCidr } from './ip.js';
import type { MeshSnapshot, Service, Workload } from './types.js';

export interface PodEnrollment extends Enrollment {
  readonly workload?: Workload;
}

/**
 * Lookups over one immutable snapshot, all O(1) except IPs that fall only into a ServiceEntry
 * CIDR VIP (a scan over those few CIDRs). Build a new index for a new snapshot.
 */
export class MeshIndex {
  private readonly byIp = new Map<string, Workload>();
  private readonly byName = new Map<string, Workload>();
  private readonly byVip = new Map<string, Service>();
  private readonly cidrVips: { cidr: ParsedCidr; service: Service }[] = [];
  private readonly byNode = new Map<string, Workload[]>();
  private readonly byService = new Map<string, Workload[]>();
  private readonly identities = new Map<string, SpiffeId>();

  constructor(readonly snapshot: MeshSnapshot) {
    for (const w of snapshot.workloads.values()) this.indexWorkload(w);
    for (const s of snapshot.services.values()) this.indexService(s);
  }

  private indexWorkload(w: Workload): void {
    // Host-network pods share the node's IP: an IP lookup must never land on one of them.
    if (w.networkMode !== 'HostNetwork') for (const ip of w.addresses) if (!this.byIp.has(ip)) this.byIp.set(ip, w);
    // A Pod and a WorkloadEntry may share a name; the Pod wins, as `--to ns/name` documents.
    const nameKey = `${w.namespace}/${w.name}`;
    const named = this.byName.get(nameKey);
    if (!named || (named.kind === 'WorkloadEntry' && w.kind === 'Pod')) this.byName.set(nameKey, w);
    if (w.node !== '') push(this.byNode, w.node, w);
    for (const key of w.services.keys()) push(this.byService, key, w);
  }

  private indexService(s: Service): void {
    for (const vip of s.vips) if (!this.byVip.has(vip)) this.byVip.set(vip, s);
    for (const c of s.cidrVips ?? []) {
      const cidr = parseCidr(`${c.address}/${c.prefixLength}`);
      if (typeof cidr !== 'string') this.cidrVips.push({ cidr, service: s });
    }
  }

  /** Accepts any textual form; IPv4-mapped IPv6 finds the IPv4 workload. */
  workloadByIp(ip: string): Workload | undefined {
    return this.byIp.get(ip) ?? lookupCanonical(this.byIp, ip);
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.snapshot.workloads.get(uid);
  }

  workloadByName(namespace: string, name: string): Workload | undefined {
    return this.byName.get(`${namespace}/${name}`);
  }

  serviceByVip(ip: string): Service | undefined {
    const exact = this.byVip.get(ip) ?? lookupCanonical(this.byVip, ip);
    if (exact || this.cidrVips.length === 0) return exact;
    const bytes = ipToBytes(ip);
    return bytes && this.cidrVips.find((c) => cidrContains(c.cidr, bytes))?.service;
  }

  /** By key `ns/hostname`. */
  service(key: string): Service | undefined {
    return this.snapshot.services.get(key);
  }

  endpoints(serviceKey: string): Workload[] {
    return this.byService.get(serviceKey) ?? [];
  }

  workloadsOnNode(node: string): Workload[] {
    return this.byNode.get(node) ?? [];
  }

  identityOf(w: Workload): SpiffeId {
    let id = this.identities.get(w.uid);
    if (!id) {
      id = formatSpiffeId({ trustDomain: w.trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount });
      this.identities.set(w.uid, id);
    }
    return id;
  }

  /**
   * Whether the CNI plugin should capture a pod's traffic, and why (or why not). A pod the config
   * does not list yet is enrolled when its namespace is ambient, without a `workload`.
   */
  podEnrollment(namespace: string, name: string): PodEnrollment {
    const w = this.byName.get(`${namespace}/${name}`);
    if (!w || w.kind !== 'Pod') return unlistedPodEnrollment(namespace, name, this.snapshot.ambientNamespaces);
    return { ...enrollmentOf(w, this.snapshot.ambientNamespaces), workload: w };
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function lookupCanonical<T>(map: ReadonlyMap<string, T>, ip: string): T | undefined {
  const canonical = canonicalIp(ip);
  return canonical === undefined || canonical === ip ? undefined : map.get(canonical);
}
