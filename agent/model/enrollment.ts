import type { NetworkMode, Workload } from './types.js';

/** The label Istio ambient uses on namespaces and workloads. */
export const ENROLL_LABEL = 'istio.io/dataplane-mode';
export const ENROLL_VALUES: readonly string[] = ['ambient', 'none'];
/** istiod gives a WorkloadEntry HBONE when it carries this label with value `http`. */
export const TUNNEL_LABEL = 'networking.istio.io/tunnel';

export interface Enrollment {
  readonly enrolled: boolean;
  readonly reason: string;
}

/** The ambient namespaces; only membership is asked. */
export type AmbientNamespaces = Pick<ReadonlySet<string>, 'has'>;

export interface EnrollmentInput {
  readonly kind: 'Pod' | 'WorkloadEntry';
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly networkMode?: NetworkMode | undefined;
}

/**
 * Whether a workload is in the mesh: a workload's own label wins over its namespace's (`none`
 * opts out of an ambient namespace, `ambient` opts in anywhere). Host-network pods are never
 * captured: redirecting the node's own network namespace would capture the whole node.
 */
export function enrollmentOf(w: EnrollmentInput, ambientNamespaces: AmbientNamespaces): Enrollment {
  const own = w.labels[ENROLL_LABEL];
  if (w.networkMode === 'HostNetwork') {
    return { enrolled: false, reason: 'host-network pods share the node network namespace and are never captured' };
  }
  if (own === 'none') return { enrolled: false, reason: `${w.kind} label ${ENROLL_LABEL}=none opts it out` };
  if (own === 'ambient') return { enrolled: true, reason: `${w.kind} label ${ENROLL_LABEL}=ambient` };
  if (w.kind === 'WorkloadEntry' && w.labels[TUNNEL_LABEL] === 'http') {
    return { enrolled: true, reason: `WorkloadEntry label ${TUNNEL_LABEL}=http` };
  }
  if (ambientNamespaces.has(w.namespace)) {
    return { enrolled: true, reason: `namespace ${w.namespace} has label ${ENROLL_LABEL}=ambient` };
  }
  return { enrolled: false, reason: `neither namespace ${w.namespace} nor the ${w.kind} has label ${ENROLL_LABEL}=ambient` };
}

/**
 * A pod the config does not list (yet). The CNI plugin sees a new pod before the config that
 * lists it reaches this agent; answering "not enrolled" then would let the pod start uncaptured
 * for good. So a pod of an ambient namespace is captured, with no traffic allowed until the
 * config lists it (the proxies refuse a pod without a workload record). A namespace the config
 * does not know, or knows but not as ambient, enrols nothing.
 */
export function unlistedPodEnrollment(namespace: string, name: string, ambientNamespaces: AmbientNamespaces): Enrollment {
  if (ambientNamespaces.has(namespace)) {
    return { enrolled: true, reason: `namespace ${namespace} is ambient; pod ${name} is not yet in the mesh config` };
  }
  return { enrolled: false, reason: `pod ${namespace}/${name} is not in the mesh config and namespace ${namespace} is not ambient` };
}

/** A pod's enrolment, with its workload record when the mesh state lists it. */
export interface PodEnrollment extends Enrollment {
  readonly workload?: Workload;
}
