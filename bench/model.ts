import { parseFile } from '../agent/config/documents.js';
import { Problems } from '../agent/config/problems.js';
import { buildMeshSnapshot } from '../agent/model/load.js';
import { StateStore } from '../agent/state/store.js';
import type { BenchResult } from './result.js';

import { LARGE_MESH, largeMeshYaml } from './large-mesh.js';

export async function run(): Promise<BenchResult[]> {
  const text = largeMeshYaml();
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
  const note = LARGE_MESH.description;
  return [
    { name: 'config: YAML parse', value: t1 - t0, unit: 'ms', note },
    { name: 'config: snapshot build (workloads, endpoints, policies)', value: t2 - t1, unit: 'ms' },
    { name: 'config: StateStore build', value: t3 - t2, unit: 'ms' },
    { name: 'config: workloadByIp lookup', value: ((t5 - t4) * 1e6) / lookups, unit: 'ns', note: `${found} hits` },
  ];
}
