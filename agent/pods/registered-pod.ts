/**
 * A pod the CNI plugin registered with this agent: what `POST /v1/pods` carries, what is
 * persisted under --state-dir, and what PodProxies opens listeners for. IPs are canonical.
 */
export interface RegisteredPod {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** Path of the pod's network namespace file. */
  readonly netns: string;
  readonly ips: string[];
}
