import type { ParsedService, ParsedServiceEntry, ParsedServiceSource } from './objects/parsed.js';
import { placeOf, type Problems } from '../config/problems.js';
import type { MeshSettings, PortMap, Service, ServicePort } from './types.js';
import { selects, type WorkloadDraft } from './workloads.js';

export const DEFAULT_DOMAIN_SUFFIX = 'cluster.local';

export interface BuiltServices {
  /** Keyed `ns/hostname`. */
  readonly services: Map<string, Service>;
  /** Workload uid → the services it backs (`ns/hostname` → servicePort → targetPort). */
  readonly endpoints: Map<string, Map<string, PortMap>>;
}

interface Entry { readonly service: Service; readonly source: ParsedServiceSource }

/**
 * Services and ServiceEntries (one Service per ServiceEntry host, as istiod does), and their
 * endpoints: the Pods and WorkloadEntries of the same namespace that the selector picks.
 */
export function buildServices(
  sources: readonly ParsedServiceSource[], drafts: readonly WorkloadDraft[], settings: MeshSettings, problems: Problems,
): BuiltServices {
  const entries = new Map<string, Entry>();
  const vips = new Map<string, Entry>();
  for (const source of sources) {
    for (const service of toServices(source, settings)) {
      const key = `${service.namespace}/${service.hostname}`;
      const other = entries.get(key);
      if (other) {
        const path = source.kind === 'Service' ? 'metadata.name' : 'spec.hosts';
        problems.error({ ...source.location, line: source.lineOf(path) }, path,
          `service ${key} is also defined by ${other.source.kind} ${other.source.namespace}/${other.source.name} at ${placeOf(other.source.location)}`);
        continue;
      }
      entries.set(key, { service, source });
      claimVips({ service, source }, vips, problems);
    }
  }
  const endpoints = new Map<string, Map<string, PortMap>>();
  const byNamespace = groupByNamespace(drafts);
  for (const [key, entry] of entries) {
    attachEndpoints(key, entry.source, byNamespace.get(entry.source.namespace) ?? [], endpoints, problems);
  }
  return { services: new Map([...entries].map(([k, e]) => [k, e.service])), endpoints };
}

function toServices(source: ParsedServiceSource, settings: MeshSettings): Service[] {
  if (source.kind === 'Service') {
    const hostname = `${source.name}.${source.namespace}.svc.${settings.domainSuffix ?? DEFAULT_DOMAIN_SUFFIX}`;
    return [{ kind: 'Service', name: source.name, namespace: source.namespace, hostname, vips: source.vips, ports: source.ports, subjectAltNames: [] }];
  }
  return source.hosts.map((hostname) => ({
    kind: 'ServiceEntry', name: source.name, namespace: source.namespace, hostname, vips: source.vips,
    ...(source.cidrVips.length > 0 ? { cidrVips: source.cidrVips } : {}),
    ports: source.ports, subjectAltNames: source.subjectAltNames,
  }));
}

/** A VIP names exactly one service; the hosts of one ServiceEntry may share its addresses. */
function claimVips(entry: Entry, vips: Map<string, Entry>, problems: Problems): void {
  for (const vip of entry.service.vips) {
    const other = vips.get(vip);
    if (other && other.source !== entry.source) reportVipConflict(entry.source, vip, other.source, problems);
    else if (!other) vips.set(vip, entry);
  }
}

export function reportVipConflict(source: ParsedServiceSource, vip: string, other: ParsedServiceSource, problems: Problems): void {
  const path = source.kind === 'Service' ? 'spec.clusterIP' : 'spec.addresses';
  problems.error({ ...source.location, line: source.lineOf(path) }, path,
    `address ${vip} is also a VIP of ${other.kind} ${other.namespace}/${other.name} at ${placeOf(other.location)}`);
}

/** Selectors only reach their own namespace; grouping keeps a large mesh from going quadratic. */
function groupByNamespace(drafts: readonly WorkloadDraft[]): Map<string, WorkloadDraft[]> {
  const groups = new Map<string, WorkloadDraft[]>();
  for (const d of drafts) {
    const group = groups.get(d.namespace);
    if (group) group.push(d);
    else groups.set(d.namespace, [d]);
  }
  return groups;
}

function attachEndpoints(
  key: string, source: ParsedServiceSource, candidates: readonly WorkloadDraft[], endpoints: Map<string, Map<string, PortMap>>, problems: Problems,
): void {
  const selector = source.selector;
  if (!selector || Object.keys(selector).length === 0) return;
  for (const w of candidates) {
    if (!selects(selector, w.labels)) continue;
    const ports = new Map<number, number>();
    for (const port of source.ports) {
      const target = source.kind === 'Service' ? serviceTarget(port, w) : serviceEntryTarget(port, w);
      if (target !== undefined) ports.set(port.port, target);
      else warnUnresolved(source, port, w, problems);
    }
    if (ports.size === 0 && source.ports.length > 0) continue;
    let mine = endpoints.get(w.uid);
    if (!mine) endpoints.set(w.uid, (mine = new Map()));
    mine.set(key, ports);
  }
}

/** A Service's named targetPort is looked up per workload: container ports, or a WorkloadEntry's ports. */
function serviceTarget(port: ServicePort, w: WorkloadDraft): number | undefined {
  return typeof port.targetPort === 'number' ? port.targetPort : w.namedPorts.get(port.targetPort);
}

/** ServiceEntry ports are matched by name against a WorkloadEntry's ports (istiod's rule), else the targetPort. */
function serviceEntryTarget(port: ServicePort, w: WorkloadDraft): number | undefined {
  const byName = w.kind === 'WorkloadEntry' && port.name !== '' ? w.namedPorts.get(port.name) : undefined;
  return byName ?? (typeof port.targetPort === 'number' ? port.targetPort : undefined);
}

function warnUnresolved(source: ParsedService | ParsedServiceEntry, port: ServicePort, w: WorkloadDraft, problems: Problems): void {
  problems.warn({ ...source.location, line: source.lineOf('spec.ports') }, 'spec.ports',
    `port ${port.port}: targetPort "${String(port.targetPort)}" is not a named port of ${w.kind} ${w.namespace}/${w.name}; that workload gets no traffic on this port`);
}
