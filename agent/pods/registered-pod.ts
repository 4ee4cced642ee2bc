import type { PodRegistration } from '../base/contracts/pod-api.js';

/**
 * A pod the CNI plugin registered with this agent: what `POST /v1/pods` carries, what is
 * persisted under --state-dir, and what PodProxies opens listeners for. IPs are canonical.
 */
export type RegisteredPod = Omit<PodRegistration, 'deadlineMs'>;
