import { stringify } from 'yaml';
import { authorize, compilePolicies, type Decision } from '../../agent/authz/index.js';
import { parseFile } from '../../agent/config/documents.js';
import { Problems } from '../../agent/config/problems.js';
import { buildAuthorizations, isSecurityKind, parseSecurityDoc, type SecurityObject } from '../../agent/model/security/index.js';
import type { MeshSettings, MeshSnapshot, Workload } from '../../agent/model/types.js';

/**
 * Builds decisions from YAML the way the agent does (parse → translate → attach → compile →
 * authorize), with hand-built workloads so these tests do not depend on the Pod loader.
 */
export const DEFAULT_SETTINGS: MeshSettings = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

export type Obj = Record<string, unknown>;

export function ap(namespace: string, name: string, spec: Obj, metadata: Obj = {}): Obj {
  return { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace, ...metadata }, spec };
}

export function pa(namespace: string, name: string, spec: Obj, created = '2024-01-01T00:00:00Z'): Obj {
  return { apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication', metadata: { name, namespace, creationTimestamp: created }, spec };
}

export interface TestWorkload {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ip: string;
}

export const WEB: TestWorkload = { namespace: 'shop', name: 'web', labels: { app: 'web', version: 'v1' }, ip: '10.0.1.5' };

/** Workloads every case has besides its destination, so selectors are tested against neighbours. */
const NEIGHBOURS: TestWorkload[] = [
  { namespace: 'shop', name: 'db', labels: { app: 'db' }, ip: '10.0.1.6' },
  { namespace: 'other', name: 'api', labels: { app: 'web' }, ip: '10.0.3.5' },
  { namespace: 'istio-system', name: 'gw', labels: { app: 'gw' }, ip: '10.0.9.1' },
];

export function makeWorkload(w: TestWorkload, policies: readonly string[]): Workload {
  return {
    uid: `Kubernetes//Pod/${w.namespace}/${w.name}`, kind: 'Pod', name: w.name, namespace: w.namespace,
    serviceAccount: 'default', trustDomain: 'cluster.local', addresses: [w.ip], labels: w.labels, node: 'node-a',
    protocol: 'HBONE', status: 'Healthy', services: new Map(), namedPorts: new Map(), authorizationPolicies: policies,
  };
}

export interface Built {
  snapshot: MeshSnapshot;
  problems: Problems;
  workload(namespace: string, name: string): Workload;
}

export function parseObjects(objects: Obj[], problems: Problems): SecurityObject[] {
  const text = objects.map((o) => stringify(o)).join('---\n');
  const docs = parseFile('policies.yaml', text, problems);
  return docs.filter((d) => isSecurityKind(d.apiVersion, d.kind)).map((d) => parseSecurityDoc(d, problems))
    .filter((o): o is SecurityObject => o !== undefined);
}

export function build(objects: Obj[], dst: TestWorkload = WEB, settings: MeshSettings = DEFAULT_SETTINGS): Built {
  const problems = new Problems();
  const parsed = parseObjects(objects, problems);
  const all = [dst, ...NEIGHBOURS.filter((n) => n.namespace !== dst.namespace || n.name !== dst.name)];
  const shapes = all.map((w) => ({ uid: makeWorkload(w, []).uid, namespace: w.namespace, labels: w.labels }));
  const { authorizations, policiesByWorkload } = buildAuthorizations(parsed, shapes, settings, problems);
  const workloads = new Map(all.map((w) => {
    const wl = makeWorkload(w, policiesByWorkload.get(makeWorkload(w, []).uid) ?? []);
    return [wl.uid, wl] as const;
  }));
  const snapshot: MeshSnapshot = { settings, workloads, services: new Map(), authorizations, ambientNamespaces: new Set() };
  return {
    snapshot, problems,
    workload: (namespace, name) => [...workloads.values()].find((w) => w.namespace === namespace && w.name === name)!,
  };
}

export interface Conn {
  identity?: string;
  srcIp?: string;
  dstIp?: string;
  dstPort?: number;
}

export const CLIENT = 'spiffe://cluster.local/ns/client/sa/sleep';

/** Decides one connection to `dst`; defaults: mTLS from client/sleep at 10.0.2.7 to port 8080. */
export function decide(objects: Obj[], conn: Conn & { plaintext?: boolean } = {}, dst: TestWorkload = WEB, settings?: MeshSettings): Decision & { errors: string[] } {
  const built = build(objects, dst, settings);
  const errors = built.problems.errors.map((p) => `${p.path}: ${p.message}`);
  const workload = built.workload(dst.namespace, dst.name);
  const decision = authorize(compilePolicies(built.snapshot), workload, {
    identity: conn.plaintext ? undefined : conn.identity ?? CLIENT,
    srcIp: conn.srcIp ?? '10.0.2.7',
    dstIp: conn.dstIp ?? dst.ip,
    dstPort: conn.dstPort ?? 8080,
  });
  return { ...decision, errors };
}

export interface Case {
  title: string;
  objects: Obj[];
  conn?: Conn & { plaintext?: boolean };
  dst?: TestWorkload;
  settings?: MeshSettings;
  want: Decision['code'];
  /** Deciding policy; checked when given (null = none). */
  policy?: string | null;
  /** Expected dry-run report; checked when given. */
  dryRun?: Decision['dryRun'];
  /** Substring of the reason; checked when given. */
  reason?: string;
}

const ALLOWING = new Set<Decision['code']>(['no-allow-policies', 'allow-matched']);

export function caseTitle(c: Case): string {
  const by = c.policy ? ` by ${c.policy}` : '';
  return `${c.title} → ${ALLOWING.has(c.want) ? 'allow' : 'deny'} (${c.want}${by})`;
}

/** Registers one ava test per case; titles are generated from the case. */
export function runCases(test: typeof import('ava').default, cases: Case[]): void {
  for (const c of cases) {
    test(caseTitle(c), (t) => {
      const d = decide(c.objects, c.conn, c.dst, c.settings);
      t.deepEqual(d.errors, [], 'config has no errors');
      t.is(d.code, c.want, d.reason);
      t.is(d.allowed, ALLOWING.has(c.want));
      if (c.policy !== undefined) t.is(d.policy, c.policy);
      if (c.dryRun !== undefined) t.deepEqual(d.dryRun, c.dryRun);
      if (c.reason !== undefined) t.true(d.reason.includes(c.reason), d.reason);
    });
  }
}

/** Spec shorthands. */
export const allowFrom = (source: Obj, extra: Obj = {}): Obj => ({ ...extra, rules: [{ from: [{ source }] }] });
export const denyFrom = (source: Obj, extra: Obj = {}): Obj => ({ ...extra, action: 'DENY', rules: [{ from: [{ source }] }] });
export const allowTo = (operation: Obj): Obj => ({ rules: [{ to: [{ operation }] }] });
export const denyTo = (operation: Obj): Obj => ({ action: 'DENY', rules: [{ to: [{ operation }] }] });
export const when = (action: 'ALLOW' | 'DENY', key: string, values: string[], notValues?: string[]): Obj =>
  ({ action, rules: [{ when: [{ key, ...(values.length ? { values } : {}), ...(notValues ? { notValues } : {}) }] }] });
