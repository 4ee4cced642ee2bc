import { closestField, joinPath } from '../../config/field-reader.js';
import type { ObjectReader } from './reader.js';

/**
 * The fields Kubernetes and Istio define for the parts of objects meshnode reads. A field outside
 * these lists is most likely a typo (`serviceAcountName` would silently give the pod the `default`
 * identity), so it is a warning; not an error, because a newer Kubernetes may add fields.
 */
export const KNOWN = {
  object: ['apiVersion', 'kind', 'metadata', 'spec', 'status'],
  metadata: [
    'annotations', 'creationTimestamp', 'deletionGracePeriodSeconds', 'deletionTimestamp', 'finalizers',
    'generateName', 'generation', 'labels', 'managedFields', 'name', 'namespace', 'ownerReferences',
    'resourceVersion', 'selfLink', 'uid',
  ],
  podSpec: [
    'activeDeadlineSeconds', 'affinity', 'automountServiceAccountToken', 'containers', 'dnsConfig', 'dnsPolicy',
    'enableServiceLinks', 'ephemeralContainers', 'hostAliases', 'hostIPC', 'hostNetwork', 'hostPID', 'hostUsers',
    'hostname', 'imagePullSecrets', 'initContainers', 'nodeName', 'nodeSelector', 'os', 'overhead',
    'preemptionPolicy', 'priority', 'priorityClassName', 'readinessGates', 'resourceClaims', 'resources',
    'restartPolicy', 'runtimeClassName', 'schedulerName', 'schedulingGates', 'securityContext', 'serviceAccount',
    'serviceAccountName', 'setHostnameAsFQDN', 'shareProcessNamespace', 'subdomain', 'terminationGracePeriodSeconds',
    'tolerations', 'topologySpreadConstraints', 'volumes',
  ],
  containerPort: ['containerPort', 'hostIP', 'hostPort', 'name', 'protocol'],
  serviceSpec: [
    'allocateLoadBalancerNodePorts', 'clusterIP', 'clusterIPs', 'externalIPs', 'externalName', 'externalTrafficPolicy',
    'healthCheckNodePort', 'internalTrafficPolicy', 'ipFamilies', 'ipFamilyPolicy', 'loadBalancerClass',
    'loadBalancerIP', 'loadBalancerSourceRanges', 'ports', 'publishNotReadyAddresses', 'selector', 'sessionAffinity',
    'sessionAffinityConfig', 'trafficDistribution', 'type',
  ],
  servicePort: ['appProtocol', 'name', 'nodePort', 'port', 'protocol', 'targetPort'],
  workloadEntrySpec: ['address', 'labels', 'locality', 'network', 'ports', 'serviceAccount', 'weight'],
  serviceEntrySpec: ['addresses', 'endpoints', 'exportTo', 'hosts', 'location', 'ports', 'resolution', 'subjectAltNames', 'workloadSelector'],
  serviceEntryPort: ['name', 'number', 'protocol', 'targetPort'],
  workloadSelector: ['labels'],
} as const satisfies Record<string, readonly string[]>;

/** Warns about every key of `record` that is not in `known`, suggesting the closest known one. */
export function warnUnknownFields(r: ObjectReader, record: Record<string, unknown> | undefined, path: string, known: readonly string[]): void {
  for (const key of Object.keys(record ?? {})) {
    if (known.includes(key)) continue;
    const close = closestField(key, known);
    r.warn(joinPath(path, key), `unknown field "${key}"${close ? `; did you mean "${close}"?` : ''} (ignored)`);
  }
}
