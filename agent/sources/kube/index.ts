/** The Kubernetes API as a mesh source (`meshnode agent --kube`). */
export { KubeSource, type KubeSourceOptions, type KubeSourceStatus } from './source.js';
export { KubeApiError, KubeConfigError } from './api-client.js';
import type { ReflectorTiming } from './reflector.js';
export type { ReflectorTiming };

/** What the agent's flags say about the Kubernetes source. */
export interface KubeAgentOptions {
  /** `--kubeconfig`; undefined means the pod's in-cluster config. */
  readonly kubeconfig: string | undefined;
  readonly timing?: Partial<ReflectorTiming>;
}
