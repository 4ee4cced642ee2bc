/**
 * The pod API between `meshnode-cni` and the agent: HTTP/1.1 with JSON bodies over the agent's
 * unix socket. Versioned by path prefix; a newer plugin may send fields an older agent ignores.
 */
export const POD_API_VERSION = 'v1';

export const POD_API_PATHS = {
  /** `GET ?namespace=NS&name=NAME` → EnrollmentAnswer. */
  enrollment: `/${POD_API_VERSION}/enrollment`,
  /** `POST` a PodRegistration; `GET` lists registered pods. */
  pods: `/${POD_API_VERSION}/pods`,
  /**
   * `POST` a PodRegistration of a pod the plugin left uncaptured (not enrolled at ADD): the agent
   * keeps it, so a later enrollment captures the running pod. `DELETE /v1/pods/{uid}` forgets it.
   */
  observedPods: `/${POD_API_VERSION}/observed-pods`,
  /** `GET` or `DELETE` one pod by uid. */
  pod: (uid: string) => `/${POD_API_VERSION}/pods/${encodeURIComponent(uid)}`,
} as const;

/** `POST /v1/pods`: a pod the plugin has set up capture for. */
export interface PodRegistration {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** Path of the pod's network namespace file. */
  readonly netns: string;
  readonly ips: readonly string[];
  /** How the plugin captures pods, so the agent captures and releases a running pod the same way. */
  readonly capture?: PodCaptureSettings;
  /**
   * Unix time (ms) after which the plugin no longer waits for the answer and rolls the pod
   * back; the agent refuses or undoes a registration it finishes later.
   */
  readonly deadlineMs?: number;
}

/** meshnode-cni's capture settings from its network config (docs/cni.md). */
export interface PodCaptureSettings {
  readonly probeAddress: string;
  readonly probeAddressV6: string;
  readonly hostProbeSnat: boolean;
}

export interface EnrollmentAnswer {
  readonly enrolled: boolean;
  readonly reason: string;
}

/** An error answer: a message for people and, where there is one, a code for the plugin. */
export interface PodApiErrorBody {
  readonly error: string;
  readonly reason?: string;
}
