import type { MeshSnapshot, Service, Workload } from '../model/types.js';
import type { MeshView } from '../state/types.js';
import { telemetryNames } from '../model/telemetry.js';
import { compareText } from '../base/text.js';

/**
 * The admin API's listings: one flat, sorted row per workload, service or policy, with the
 * columns `meshnode ctl` prints, filtered by the query (`namespace`, `node`, `workload`). Built
 * from a snapshot on request, never on the data path.
 */
export interface Filters {
  readonly namespace?: string | undefined;
  readonly node?: string | undefined;
  readonly workload?: string | undefined;
}

export function filtersOf(url: URL): Filters {
  const get = (key: string) => url.searchParams.get(key) || undefined;
  return { namespace: get('namespace'), node: get('node'), workload: get('workload') };
}

const byKeys = <T>(...keys: ((v: T) => string)[]) => (a: T, b: T) => {
  for (const key of keys) {
    const c = compareText(key(a), key(b));
    if (c !== 0) return c;
  }
  return 0;
};

export interface WorkloadRow {
  readonly namespace: string;
  readonly name: string;
  readonly kind: Workload['kind'];
  readonly workload: string;
  readonly addresses: readonly string[];
  readonly node: string;
  readonly protocol: Workload['protocol'];
  readonly status: Workload['status'];
  readonly identity: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly services: readonly string[];
  readonly uid: string;
}

export function workloadRows(snapshot: MeshSnapshot, mesh: MeshView, f: Filters): WorkloadRow[] {
  const rows: WorkloadRow[] = [];
  for (const w of snapshot.workloads.values()) {
    if ((f.namespace && w.namespace !== f.namespace) || (f.node && w.node !== f.node)) continue;
    const names = telemetryNames(w);
    if (f.workload && w.name !== f.workload && names.workloadName !== f.workload) continue;
    rows.push({
      namespace: w.namespace, name: w.name, kind: w.kind, workload: names.workloadName, addresses: w.addresses,
      node: w.node, protocol: w.protocol, status: w.status, identity: mesh.identityOf(w),
      canonicalService: names.canonicalName, canonicalRevision: names.canonicalRevision,
      services: [...w.services.keys()].sort(), uid: w.uid,
    });
  }
  return rows.sort(byKeys((r) => r.namespace, (r) => r.name, (r) => r.uid));
}

export interface ServiceRow {
  readonly namespace: string;
  readonly name: string;
  readonly kind: Service['kind'];
  readonly hostname: string;
  readonly vips: readonly string[];
  readonly ports: readonly string[];
  readonly endpoints: number;
}

export function serviceRows(snapshot: MeshSnapshot, mesh: MeshView, f: Filters): ServiceRow[] {
  const rows: ServiceRow[] = [];
  for (const [key, s] of snapshot.services) {
    if (f.namespace && s.namespace !== f.namespace) continue;
    rows.push({
      namespace: s.namespace, name: s.name, kind: s.kind, hostname: s.hostname, vips: s.vips,
      ports: s.ports.map((p) => `${p.port}${p.targetPort !== 0 && p.targetPort !== p.port ? `->${p.targetPort}` : ''}/${p.protocol}`),
      endpoints: mesh.endpoints(key).length,
    });
  }
  return rows.sort(byKeys((r) => r.namespace, (r) => r.hostname));
}

export interface PolicyRow {
  readonly namespace: string;
  readonly name: string;
  readonly scope: string;
  readonly action: string;
  readonly rules: number;
  readonly origin: string;
  readonly dryRun: boolean;
}

export function policyRows(snapshot: MeshSnapshot, f: Filters): PolicyRow[] {
  const rows: PolicyRow[] = [];
  for (const p of snapshot.authorizations.values()) {
    if (f.namespace && p.namespace !== f.namespace) continue;
    rows.push({ namespace: p.namespace, name: p.name, scope: p.scope, action: p.action, rules: p.rules.length, origin: p.origin, dryRun: p.dryRun });
  }
  return rows.sort(byKeys((r) => r.namespace, (r) => r.name));
}

/** An identity's namespace, for the `namespace` filter of certificates. */
export function identityNamespace(identity: string): string | undefined {
  return /\/ns\/([^/]+)\/sa\//.exec(identity)?.[1];
}
