import { loadKubeConnection, type KubeConnection } from '../../agent/sources/kube/api-client.js';
import { KubeSource, type ReflectorTiming } from '../../agent/sources/kube/index.js';
import { StateStore } from '../../agent/state/store.js';
import { createLogger } from '../../agent/telemetry/log.js';
import type { KubeCluster } from './kube-cluster.js';

export const kubeSettings = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

/**
 * Short enough that a test sees watch restarts, bookmarks and CRD rechecks within seconds; pages of
 * two objects, so every list is paged with continue tokens.
 */
export const FAST_TIMING: Partial<ReflectorTiming> = {
  watchMinSeconds: 3, watchMaxSeconds: 4, missingRecheckMs: 300, pageSize: 2, backoff: { initialMs: 50, maxMs: 300, resetAfterMs: 5_000 },
};

export interface RunningKubeSource {
  readonly source: KubeSource;
  readonly store: StateStore;
  /** While true every request of the source fails before it is sent, as if the API were unreachable. */
  offline: boolean;
}

/**
 * The Kubernetes source against a test cluster, reading its admin kubeconfig through the same
 * loader `--kubeconfig` uses. Call `source.close()` in teardown.
 */
export async function startKubeSource(kube: KubeCluster, opts: { timing?: Partial<ReflectorTiming>; chunkSize?: number } = {}): Promise<RunningKubeSource> {
  const real = await loadKubeConnection(kube.kubeconfig);
  const running = { offline: false } as RunningKubeSource;
  const connection: KubeConnection = {
    server: real.server,
    authorize: async (o) => {
      if (running.offline) throw new Error('test: API server unreachable');
      await real.authorize(o);
    },
  };
  const store = new StateStore(kubeSettings);
  const source = new KubeSource({
    settings: kubeSettings, store, log: createLogger('kube-test'), connection, timing: opts.timing ?? FAST_TIMING,
    ...(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}),
  });
  Object.assign(running, { source, store });
  await source.start();
  return running;
}

/** A namespace enrolled in ambient mode, with a service account, as YAML. */
export function ambientNamespace(ns: string, sa = 'web'): string {
  return `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${sa}, namespace: ${ns}}
`;
}

export function podYaml(ns: string, name: string, node: string, opts: { sa?: string; labels?: Record<string, string> } = {}): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: ${JSON.stringify(opts.labels ?? { app: name })}}
spec:
  nodeName: ${node}
  serviceAccountName: ${opts.sa ?? 'web'}
  containers: [{name: app, image: example.invalid/app, ports: [{name: http, containerPort: 8080}]}]
`;
}
