/** The Kubernetes API as a mesh source (`meshnode agent --kube`). */
export { KubeSource } from './source.js';
export { KubeEnrolment, REDIRECTION_ANNOTATION } from './enrolment.js';
export { KubeConfigError } from './api-client.js';
export type { ReflectorTiming } from './reflector.js';

/** What the agent's flags say about the Kubernetes source. */
export interface KubeAgentOptions {
  /** `--kubeconfig`; undefined means the pod's in-cluster config. */
  readonly kubeconfig: string | undefined;
}
