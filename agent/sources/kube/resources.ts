import type { ResourceType } from './reflector.js';

/**
 * What the agent lists and watches, cluster-wide (the mesh needs every workload's IP and
 * identity, not only its node's), in the order a first translation wants them: namespaces,
 * then what is namespace-wide (services, policies), then workloads. Istio's resources are CRDs
 * that may be missing; each is read in its v1 version, or v1beta1 where only that is served.
 */
const istio = (group: string, plural: string, kind: string): ResourceType => ({
  name: `${plural}.${group}`, kind, optional: true,
  paths: [`/apis/${group}/v1/${plural}`, `/apis/${group}/v1beta1/${plural}`],
});

export const KUBE_RESOURCES: readonly ResourceType[] = [
  { name: 'namespaces', kind: 'Namespace', optional: false, paths: ['/api/v1/namespaces'] },
  { name: 'services', kind: 'Service', optional: false, paths: ['/api/v1/services'] },
  istio('security.istio.io', 'authorizationpolicies', 'AuthorizationPolicy'),
  istio('security.istio.io', 'peerauthentications', 'PeerAuthentication'),
  istio('networking.istio.io', 'serviceentries', 'ServiceEntry'),
  { name: 'pods', kind: 'Pod', optional: false, paths: ['/api/v1/pods'] },
  istio('networking.istio.io', 'workloadentries', 'WorkloadEntry'),
];

/** Translation order: a Namespace first, then namespace-wide objects, then workloads. */
export function translationRank(kind: string): number {
  if (kind === 'Namespace') return 0;
  return kind === 'Pod' || kind === 'WorkloadEntry' ? 2 : 1;
}
