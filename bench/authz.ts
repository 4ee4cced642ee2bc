import { stringify } from 'yaml';
import { authorize, compilePolicies, type ConnectionAttributes } from '../agent/authz/index.js';
import { parseFile } from '../agent/config/documents.js';
import { Problems } from '../agent/config/problems.js';
import { buildAuthorizations, parseSecurityDoc, type SecurityObject } from '../agent/model/security/index.js';
import type { MeshSettings, MeshSnapshot, Workload } from '../agent/model/types.js';
import type { BenchResult } from './result.js';

/**
 * Decision cost of the L4 engine on a large mesh: 1,000 AuthorizationPolicies over 100 namespaces
 * (namespace-wide and selector policies with principals, namespaces, IP blocks, ports and `when`
 * conditions), PeerAuthentications, and 10,000 workloads. The config goes through the real
 * YAML → translation → compile pipeline; only the decisions are timed for the headline number.
 */
const NAMESPACES = 100;
const WORKLOADS_PER_NS = 100;
const APPS = 10;
const DECISIONS = 200_000;
const BATCH = 100;
const SETTINGS: MeshSettings = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

/** Deterministic pseudo-random numbers, so runs are comparable. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const ns = (i: number) => `ns-${i}`;
const principal = (n: number, sa: string) => `cluster.local/ns/${ns(n)}/sa/${sa}`;

function policiesFor(n: number): Record<string, unknown>[] {
  const meta = (name: string) => ({ name, namespace: ns(n) });
  const head = { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy' };
  const out: Record<string, unknown>[] = [
    { ...head, metadata: meta('allow-same-namespace'), spec: { rules: [{ from: [{ source: { namespaces: [ns(n), ns((n + 1) % NAMESPACES)] } }] }] } },
    { ...head, metadata: meta('deny-quarantine'), spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['192.168.66.0/24', 'fd66::/64'] } }] }] } },
  ];
  for (let a = 0; a < APPS - 2; a++) {
    out.push({
      ...head, metadata: meta(`app-${a}`),
      spec: a % 4 === 3
        ? { action: 'DENY', selector: { matchLabels: { app: `app-${a}` } }, rules: [{ from: [{ source: { notNamespaces: [ns(n), 'ingress*'] } }], to: [{ operation: { ports: ['9090'] } }] }] }
        : {
          selector: { matchLabels: { app: `app-${a}` } },
          rules: [
            { from: [{ source: { principals: [principal((n + 2) % NAMESPACES, 'frontend'), principal((n + 3) % NAMESPACES, 'batch'), `cluster.local/ns/${ns((n + 4) % NAMESPACES)}/*`] } }], to: [{ operation: { ports: ['8080', '8443'] } }] },
            { from: [{ source: { ipBlocks: ['10.0.0.0/16'], notIpBlocks: ['10.0.99.0/24'] } }], when: [{ key: 'destination.port', values: ['9090'] }] },
            { from: [{ source: { serviceAccounts: [`${ns((n + 5) % NAMESPACES)}/monitoring`] } }], to: [{ operation: { notPorts: ['22'] } }] },
          ],
        },
    });
  }
  return out;
}

function peerAuthentications(): Record<string, unknown>[] {
  const head = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication' };
  const out: Record<string, unknown>[] = [{ ...head, metadata: { name: 'mesh', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } }];
  for (let n = 0; n < NAMESPACES; n += 10) {
    out.push({ ...head, metadata: { name: 'legacy', namespace: ns(n) }, spec: { selector: { matchLabels: { app: 'app-0' } }, mtls: { mode: 'STRICT' }, portLevelMtls: { 9090: { mode: 'PERMISSIVE' } } } });
  }
  return out;
}

function workloadShapes(): { uid: string; namespace: string; name: string; labels: Record<string, string>; ip: string }[] {
  const out = [];
  for (let n = 0; n < NAMESPACES; n++) {
    for (let i = 0; i < WORKLOADS_PER_NS; i++) {
      const name = `w-${i}`;
      out.push({ uid: `Kubernetes//Pod/${ns(n)}/${name}`, namespace: ns(n), name, labels: { app: `app-${i % APPS}`, version: `v${i % 3}` }, ip: `10.${1 + (n >> 6)}.${(n & 63) * 4 + (i >> 6)}.${i & 63}` });
    }
  }
  return out;
}

function buildSnapshot(): { snapshot: MeshSnapshot; policies: number; buildMs: number } {
  const started = process.hrtime.bigint();
  const objects: Record<string, unknown>[] = [];
  for (let n = 0; n < NAMESPACES; n++) objects.push(...policiesFor(n));
  objects.push(...peerAuthentications());
  const problems = new Problems();
  const docs = parseFile('bench.yaml', objects.map((o) => stringify(o)).join('---\n'), problems);
  const parsed = docs.map((d) => parseSecurityDoc(d, problems)).filter((o): o is SecurityObject => o !== undefined);
  const shapes = workloadShapes();
  const { authorizations, policiesByWorkload } = buildAuthorizations(parsed, shapes, SETTINGS, problems);
  if (problems.errors.length > 0) throw new Error(`bench config invalid: ${problems.errors[0]!.message}`);
  const workloads = new Map<string, Workload>();
  for (const s of shapes) {
    workloads.set(s.uid, {
      uid: s.uid, kind: 'Pod', name: s.name, namespace: s.namespace, serviceAccount: 'default', trustDomain: 'cluster.local',
      addresses: [s.ip], labels: s.labels, node: 'node-a', protocol: 'HBONE', status: 'Healthy', services: new Map(),
      namedPorts: new Map(), authorizationPolicies: policiesByWorkload.get(s.uid) ?? [],
    });
  }
  const snapshot: MeshSnapshot = { settings: SETTINGS, workloads, services: new Map(), authorizations, ambientNamespaces: new Set() };
  const policies = parsed.filter((p) => p.kind === 'AuthorizationPolicy').length;
  return { snapshot, policies, buildMs: Number(process.hrtime.bigint() - started) / 1e6 };
}

function connections(workloads: Workload[], count: number): { workload: Workload; conn: ConnectionAttributes }[] {
  const rand = rng(42);
  const sas = ['frontend', 'batch', 'monitoring', 'default'];
  const ports = [8080, 8443, 9090, 22];
  const out = [];
  for (let i = 0; i < count; i++) {
    const workload = workloads[Math.floor(rand() * workloads.length)]!;
    const from = Math.floor(rand() * NAMESPACES);
    const plaintext = rand() < 0.1;
    const conn: ConnectionAttributes = {
      srcIp: rand() < 0.05 ? '192.168.66.7' : `10.0.${Math.floor(rand() * 120)}.${Math.floor(rand() * 250)}`,
      dstIp: workload.addresses[0]!, dstPort: ports[Math.floor(rand() * ports.length)]!,
      ...(plaintext ? {} : { identity: `spiffe://cluster.local/ns/${ns(from)}/sa/${sas[Math.floor(rand() * sas.length)]}` }),
    };
    out.push({ workload, conn });
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function run(): Promise<BenchResult[]> {
  const { snapshot, policies, buildMs } = buildSnapshot();
  const compileStart = process.hrtime.bigint();
  const compiled = compilePolicies(snapshot);
  const compileMs = Number(process.hrtime.bigint() - compileStart) / 1e6;
  const cases = connections([...snapshot.workloads.values()], 20_000);
  let allowed = 0;
  for (const { workload, conn } of cases) if (authorize(compiled, workload, conn).allowed) allowed++; // warm-up, JIT
  let touched = 0;
  for (const { workload } of cases) {
    const a = compiled.applicable(workload);
    touched += a.deny.length + a.peerAuthn.length + a.allow.length + a.dryRun.length;
  }
  const perDecision: number[] = [];
  for (let done = 0; done < DECISIONS; done += BATCH) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) {
      const c = cases[(done + i) % cases.length]!;
      authorize(compiled, c.workload, c.conn);
    }
    perDecision.push(Number(process.hrtime.bigint() - start) / BATCH);
  }
  const sorted = [...perDecision].sort((a, b) => a - b);
  const scale = `${policies} policies, ${NAMESPACES} namespaces, ${snapshot.workloads.size} workloads`;
  return [
    { name: 'authz decision, median', value: Math.round(median(perDecision)), unit: 'ns', target: '≤ 2000 ns', note: `${scale}; median of ${DECISIONS / BATCH} batches of ${BATCH}` },
    { name: 'authz decision, p99 of batches', value: Math.round(sorted[Math.floor(sorted.length * 0.99)]!), unit: 'ns' },
    { name: 'authz policies evaluated per decision (avg applicable)', value: Number((touched / cases.length).toFixed(2)), unit: 'policies', note: `of ${compiled.size} compiled` },
    { name: 'authz share of sample connections allowed', value: Math.round((allowed / cases.length) * 100), unit: '%' },
    { name: 'authz config build (YAML → Authorizations)', value: Math.round(buildMs), unit: 'ms' },
    { name: 'authz compile', value: Number(compileMs.toFixed(1)), unit: 'ms' },
  ];
}
