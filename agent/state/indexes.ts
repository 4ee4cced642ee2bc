import { canonicalIp, cidrContains, ipToBytes, parseCidr, type ParsedCidr } from '../base/ip.js';
import type { Service, Workload } from '../model/types.js';

/** key → the values filed under it, in arrival order; the array handed out is rebuilt lazily. */
class MultiIndex<T> {
  private readonly entries = new Map<string, { items: Map<string, T>; list?: readonly T[] }>();

  add(key: string, id: string, value: T): void {
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { items: new Map() }));
    entry.items.set(id, value);
    delete entry.list;
  }

  delete(key: string, id: string): void {
    const entry = this.entries.get(key);
    if (!entry?.items.delete(id)) return;
    if (entry.items.size === 0) this.entries.delete(key);
    else delete entry.list;
  }

  get(key: string): readonly T[] {
    const entry = this.entries.get(key);
    if (!entry) return [];
    return (entry.list ??= [...entry.items.values()]);
  }

  first(key: string): T | undefined {
    const entry = this.entries.get(key);
    return entry ? entry.items.values().next().value : undefined;
  }
}

/**
 * Workload lookups kept up to date one workload at a time. Two workloads may claim one IP
 * while an incremental feed is mid-way (the old pod's delete arrives after the new pod's add):
 * the first claimant keeps it and the other takes over when it leaves.
 */
export class WorkloadIndexes {
  private readonly byIp = new MultiIndex<Workload>();
  private readonly byName = new MultiIndex<Workload>();
  private readonly byNode = new MultiIndex<Workload>();
  private readonly byService = new MultiIndex<Workload>();

  add(w: Workload): void {
    // Host-network pods share the node's IP: an IP lookup must never land on one of them.
    if (w.networkMode !== 'HostNetwork') for (const ip of w.addresses) this.byIp.add(ip, w.uid, w);
    this.byName.add(`${w.namespace}/${w.name}`, w.uid, w);
    if (w.node !== '') this.byNode.add(w.node, w.uid, w);
    for (const key of w.services.keys()) this.byService.add(key, w.uid, w);
  }

  delete(w: Workload): void {
    for (const ip of w.addresses) this.byIp.delete(ip, w.uid);
    this.byName.delete(`${w.namespace}/${w.name}`, w.uid);
    if (w.node !== '') this.byNode.delete(w.node, w.uid);
    for (const key of w.services.keys()) this.byService.delete(key, w.uid);
  }

  byAddress(ip: string): Workload | undefined {
    return this.byIp.first(ip) ?? viaCanonical(ip, (c) => this.byIp.first(c));
  }

  named(namespace: string, name: string): Workload | undefined {
    const all = this.byName.get(`${namespace}/${name}`);
    return all.find((w) => w.kind === 'Pod') ?? all[0];
  }

  onNode(node: string): readonly Workload[] {
    return this.byNode.get(node);
  }

  endpoints(serviceKey: string): readonly Workload[] {
    return this.byService.get(serviceKey);
  }
}

/** VIP and CIDR-VIP lookups for services, kept up to date one service at a time. */
export class ServiceIndexes {
  private readonly byVip = new MultiIndex<Service>();
  private readonly cidrVips = new Map<string, { cidr: ParsedCidr; service: Service }[]>();

  add(key: string, s: Service): void {
    for (const vip of s.vips) this.byVip.add(vip, key, s);
    const cidrs: { cidr: ParsedCidr; service: Service }[] = [];
    for (const c of s.cidrVips ?? []) {
      const cidr = parseCidr(`${c.address}/${c.prefixLength}`);
      if (typeof cidr !== 'string') cidrs.push({ cidr, service: s });
    }
    if (cidrs.length > 0) this.cidrVips.set(key, cidrs);
  }

  delete(key: string, s: Service): void {
    for (const vip of s.vips) this.byVip.delete(vip, key);
    this.cidrVips.delete(key);
  }

  byAddress(ip: string): Service | undefined {
    const exact = this.byVip.first(ip) ?? viaCanonical(ip, (c) => this.byVip.first(c));
    if (exact || this.cidrVips.size === 0) return exact;
    const bytes = ipToBytes(ip);
    if (!bytes) return undefined;
    for (const list of this.cidrVips.values()) for (const c of list) if (cidrContains(c.cidr, bytes)) return c.service;
    return undefined;
  }
}

function viaCanonical<T>(ip: string, lookup: (canonical: string) => T | undefined): T | undefined {
  const canonical = canonicalIp(ip);
  return canonical === undefined || canonical === ip ? undefined : lookup(canonical);
}
