import { ENROLL_LABEL } from '../../model/enrollment.js';
import type { Cidr, Service, ServicePort, Workload } from '../../model/types.js';
import { ADDRESS_TYPE, payloadType, type AddressPayload, type PbAny, type PbPort, type PbService, type PbWorkload } from './api.js';
import { cidrFromBytes, enumValue, gatewayAddress, ipFromBytes, port, reject, required } from './validate.js';

/**
 * istio.workload.Address → the model, as istiod already translated it: nothing is recomputed
 * from Kubernetes objects. Every field the data plane relies on is checked; a resource that
 * fails is rejected whole (ztunnel's rule), so a half-understood workload never serves.
 */

export type AddressEntry =
  | { readonly kind: 'workload'; readonly workload: Workload }
  | { readonly kind: 'service'; readonly service: Service };

const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export function translateAddress(name: string, any: PbAny): AddressEntry {
  const type = payloadType(any);
  if (type !== ADDRESS_TYPE) reject(`payload type ${type ?? ('type_url' in any ? `${any.type_url} (not decoded)` : '(none)')} is not ${ADDRESS_TYPE}`);
  const a = any as AddressPayload;
  if (a.workload) return { kind: 'workload', workload: translateWorkload(name, a.workload) };
  if (a.service) return { kind: 'service', service: translateService(name, a.service) };
  return reject('address has neither a workload nor a service');
}

function translateWorkload(name: string, w: PbWorkload): Workload {
  const uid = required(w.uid, 'uid');
  if (uid !== name) reject(`uid ${uid} differs from the resource name`);
  const protocol = enumValue(w.tunnel_protocol, ['NONE', 'HBONE'], 'tunnel_protocol');
  const status = enumValue(w.status, ['HEALTHY', 'UNHEALTHY'], 'status');
  const networkMode = enumValue(w.network_mode, ['STANDARD', 'HOST_NETWORK'], 'network_mode');
  enumValue(w.workload_type, ['DEPLOYMENT', 'CRONJOB', 'POD', 'JOB'], 'workload_type');
  if (w.application_tunnel) enumValue(w.application_tunnel.protocol, ['NONE', 'PROXY'], 'application_tunnel.protocol');
  gatewayAddress(w.waypoint, 'waypoint');
  gatewayAddress(w.network_gateway, 'network_gateway');
  const services = new Map<string, ReadonlyMap<number, number>>();
  for (const [key, list] of Object.entries(w.services)) {
    if (!key.includes('/')) reject(`services key "${key}" is not namespace/hostname`);
    const ports = new Map<number, number>();
    for (const p of list.ports) ports.set(port(p.service_port, `services[${key}].service_port`), port(p.target_port, `services[${key}].target_port`));
    services.set(key, ports);
  }
  return {
    uid,
    kind: uid.includes('/networking.istio.io/WorkloadEntry/') ? 'WorkloadEntry' : 'Pod',
    name: required(w.name, 'name'),
    namespace: required(w.namespace, 'namespace'),
    // istiod leaves both empty for the defaults; the identity needs them spelled out.
    serviceAccount: w.service_account || 'default',
    trustDomain: w.trust_domain || DEFAULT_TRUST_DOMAIN,
    addresses: w.addresses.map((b, i) => ipFromBytes(b, `addresses[${i}]`)),
    // istiod sends HBONE exactly for workloads the CNI enrolled; the model expresses enrolment as
    // the workload's own label, so HBONE carries it and nothing else does.
    labels: protocol === 'HBONE' ? { [ENROLL_LABEL]: 'ambient' } : {},
    node: w.node,
    protocol: protocol === 'HBONE' ? 'HBONE' : 'TCP',
    status: status === 'HEALTHY' ? 'Healthy' : 'Unhealthy',
    services,
    // Named target ports are resolved by istiod per workload (`services`), so none are needed here.
    namedPorts: new Map(),
    authorizationPolicies: [...w.authorization_policies],
    networkMode: networkMode === 'HOST_NETWORK' ? 'HostNetwork' : 'Standard',
    telemetry: { canonicalName: w.canonical_name, canonicalRevision: w.canonical_revision, workloadName: w.workload_name, cluster: w.cluster_id },
  };
}

const APP_PROTOCOLS = ['UNKNOWN', 'HTTP11', 'HTTP2', 'GRPC', 'TCP', 'TLS'] as const;

function servicePort(p: PbPort, i: number): ServicePort {
  const protocol = enumValue(p.app_protocol, APP_PROTOCOLS, `ports[${i}].app_protocol`);
  const servicePortNumber = port(p.service_port, `ports[${i}].service_port`);
  if (servicePortNumber === 0) reject(`ports[${i}].service_port is 0`);
  return { name: '', port: servicePortNumber, targetPort: port(p.target_port, `ports[${i}].target_port`), protocol: protocol === 'UNKNOWN' ? 'TCP' : protocol };
}

function translateService(name: string, s: PbService): Service {
  const namespace = required(s.namespace, 'namespace');
  const hostname = required(s.hostname, 'hostname');
  if (`${namespace}/${hostname}` !== name) reject(`namespace/hostname ${namespace}/${hostname} differs from the resource name`);
  enumValue(s.ip_families, ['AUTOMATIC', 'IPV4_ONLY', 'IPV6_ONLY', 'DUAL'], 'ip_families');
  if (s.load_balancing) {
    enumValue(s.load_balancing.mode, ['UNSPECIFIED_MODE', 'STRICT', 'FAILOVER', 'PASSTHROUGH'], 'load_balancing.mode');
    enumValue(s.load_balancing.health_policy, ['ONLY_HEALTHY', 'ALLOW_ALL'], 'load_balancing.health_policy');
    for (const scope of s.load_balancing.routing_preference) {
      enumValue(scope, ['UNSPECIFIED_SCOPE', 'REGION', 'ZONE', 'SUBZONE', 'NODE', 'CLUSTER', 'NETWORK'], 'load_balancing.routing_preference');
    }
  }
  gatewayAddress(s.waypoint, 'waypoint');
  s.weighted_waypoints.forEach((ww, i) => {
    if (!ww.destination) reject(`weighted_waypoints[${i}] has no destination`);
    gatewayAddress(ww.destination, `weighted_waypoints[${i}].destination`);
  });
  const vips: string[] = [];
  const cidrVips: Cidr[] = [];
  s.addresses.forEach((a, i) => {
    const c = cidrFromBytes(a.address, a.length, `addresses[${i}]`);
    if (c.prefixLength === (c.address.includes(':') ? 128 : 32)) vips.push(c.address);
    else cidrVips.push(c);
  });
  return {
    kind: 'Service',
    name: s.name,
    namespace,
    hostname,
    vips,
    ...(cidrVips.length > 0 ? { cidrVips } : {}),
    ports: s.ports.map(servicePort),
    subjectAltNames: [...s.subject_alt_names],
  };
}
