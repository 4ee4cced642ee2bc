import { parseFile } from '../agent/config/documents.js';
import { Problems } from '../agent/config/problems.js';
import { buildMeshSnapshot } from '../agent/model/load.js';
import { StateStore } from '../agent/state/store.js';
import type { BenchResult } from './result.js';

const WORKLOADS = 10_000;
const NAMESPACES = 100;
const SERVICES = 1_000;
const POLICIES = 1_000;

/** A mesh the size of the authz benchmark, as YAML: pods, services with named target ports, policies. */
function meshYaml(): string {
  const parts: string[] = [];
  for (let i = 0; i < WORKLOADS; i++) {
    parts.push(`apiVersion: v1\nkind: Pod\nmetadata:\n  name: p${i}\n  namespace: ns${i % NAMESPACES}\n  labels: {app: a${i % SERVICES}}\n`
      + `spec:\n  nodeName: node-${i % 20}\n  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]\n`
      + `status:\n  podIP: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}\n`);
  }
  for (let s = 0; s < SERVICES; s++) {
    parts.push(`apiVersion: v1\nkind: Service\nmetadata:\n  name: s${s}\n  namespace: ns${s % NAMESPACES}\n`
      + `spec:\n  clusterIP: 10.96.${s >> 8}.${s & 255}\n  selector: {app: a${s}}\n  ports: [{port: 80, targetPort: http}]\n`);
  }
  for (let p = 0; p < POLICIES; p++) {
    parts.push(`apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ap${p}\n  namespace: ns${p % NAMESPACES}\n`
      + `spec:\n  selector: {matchLabels: {app: a${p % SERVICES}}}\n  rules:\n  - from: [{source: {principals: ["cluster.local/ns/ns${p % NAMESPACES}/sa/default"]}}]\n`);
  }
  return parts.join('---\n');
}

export async function run(): Promise<BenchResult[]> {
  const text = meshYaml();
  const problems = new Problems();
  const t0 = performance.now();
  const docs = parseFile('bench.yaml', text, problems);
  const t1 = performance.now();
  const snapshot = buildMeshSnapshot(docs, { trustDomain: 'cluster.local', rootNamespace: 'istio-system' }, problems);
  const t2 = performance.now();
  if (!snapshot) throw new Error(`benchmark config invalid: ${problems.errors[0]?.message}`);
  const index = StateStore.fromSnapshot(snapshot);
  const t3 = performance.now();
  const lookups = 1_000_000;
  const ips = Array.from({ length: 1024 }, (_, i) => `10.0.${(i * 7 >> 8) & 255}.${(i * 7) & 255}`);
  let found = 0;
  const t4 = performance.now();
  for (let i = 0; i < lookups; i++) if (index.workloadByIp(ips[i & 1023]!)) found++;
  const t5 = performance.now();
  const note = `${WORKLOADS} pods, ${SERVICES} services, ${POLICIES} policies, ${NAMESPACES} namespaces`;
  return [
    { name: 'config: YAML parse', value: t1 - t0, unit: 'ms', note },
    { name: 'config: snapshot build (workloads, endpoints, policies)', value: t2 - t1, unit: 'ms' },
    { name: 'config: StateStore build', value: t3 - t2, unit: 'ms' },
    { name: 'config: workloadByIp lookup', value: ((t5 - t4) * 1e6) / lookups, unit: 'ns', note: `${found} hits` },
  ];
}
