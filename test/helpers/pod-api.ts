import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadMeshConfig } from '../../agent/model/load.js';
import { StateStore } from '../../agent/state/store.js';
import { compilePolicies } from '../../agent/authz/index.js';
import { createCertManager } from '../../agent/identity/cert-manager.js';
import { PodProxies } from '../../agent/proxy/pod-proxies.js';
import { PodStore } from '../../agent/pods/store.js';
import { PodRegistry } from '../../agent/pods/registry.js';
import { CniApiServer } from '../../agent/pods/cni-api.js';
import { LiveEnrollment } from '../../agent/pods/live-enrollment.js';
import type { Logger } from '../../agent/telemetry/log.js';
import { Revocations } from '../../agent/identity/index.js';

export const TEST_MESH_SETTINGS = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

/**
 * The agent's pod side (mesh index, pod proxies, registry and CNI API server) built from a mesh
 * YAML written into `dir`, everything closed at teardown. No CA is running: listeners open
 * regardless; connections would wait for a certificate.
 */
export async function startPodApi(
  t: { teardown(fn: () => unknown): void },
  opts: { dir: string; meshYaml: string; socketPath: string; log: Logger },
) {
  const { dir, log } = opts;
  await writeFile(join(dir, 'mesh.yaml'), opts.meshYaml);
  const loaded = await loadMeshConfig(join(dir, 'mesh.yaml'), TEST_MESH_SETTINGS);
  if (!loaded.snapshot) throw new Error(`test config invalid: ${JSON.stringify(loaded.problems)}`);
  const mesh = StateStore.fromSnapshot(loaded.snapshot);
  const policies = compilePolicies(loaded.snapshot);
  const certs = createCertManager({ node: 'n1', caAddress: { host: '127.0.0.1', port: 9 }, caRootFile: join(dir, 'none.pem'), clusterId: 'Kubernetes', certTtlMs: 3_600_000, log });
  t.teardown(() => certs.close());
  const proxies = new PodProxies({ mesh: () => mesh, policies: () => policies, certs, revocations: new Revocations(() => certs.trustBundle()), trustDomain: TEST_MESH_SETTINGS.trustDomain, log });
  t.teardown(() => proxies.close());
  const store = new PodStore(join(dir, 'state'));
  const pods = new PodRegistry({ store, listeners: proxies, enrollment: (ns, n) => mesh.podEnrollment(ns, n), log });
  t.teardown(() => pods.close());
  const live = new LiveEnrollment({ registry: pods, observed: new PodStore(join(dir, 'state'), 'observed'), enrollment: (ns, n) => mesh.podEnrollment(ns, n), log });
  const api = new CniApiServer({ registry: pods, enrollment: (ns, n) => mesh.podEnrollment(ns, n), live, log }, opts.socketPath);
  await api.start();
  t.teardown(() => api.close());
  return { api, pods, store, live, mesh };
}
