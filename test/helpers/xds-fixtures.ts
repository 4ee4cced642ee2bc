import { ADDRESS_TYPE, AUTHORIZATION_TYPE, adsApi, type DeltaDiscoveryResponse, type DeltaDiscoveryResponse__Output, type OutgoingPayload } from '../../agent/sources/xds/api.js';
import type { AdsResource } from './ads-server.js';

/** Workload-API resources as istiod shapes them, for the ADS test server and the bench. */

/** A response as the client receives it: encoded and decoded by the real codec. */
export function decodedResponse(res: DeltaDiscoveryResponse): DeltaDiscoveryResponse__Output {
  const method = adsApi().service.DeltaAggregatedResources;
  return method.responseDeserialize(method.responseSerialize(res));
}

export interface WorkloadOpts { node?: string; policies?: string[]; pad?: number; version?: string; serviceAccount?: string }

export function workloadResource(name: string, ip: string, opts: WorkloadOpts = {}): AdsResource {
  const uid = `Kubernetes//Pod/default/${name}`;
  const resource: OutgoingPayload = {
    '@type': ADDRESS_TYPE,
    workload: {
      uid, name, namespace: 'default', addresses: [Buffer.from(ip.split('.').map(Number))],
      tunnel_protocol: 'HBONE', service_account: opts.serviceAccount ?? 'web', node: opts.node ?? 'n1',
      canonical_name: name, workload_type: 'POD', workload_name: name,
      services: { 'default/web.default.svc.cluster.local': { ports: [{ service_port: 80, target_port: 8080 }] } },
      authorization_policies: opts.policies ?? [],
      // Pads a resource to a realistic size (istiod lists every selector-scoped policy).
      ...(opts.pad ? { canonical_revision: 'r'.repeat(opts.pad) } : {}),
    },
  };
  return { name: uid, version: opts.version ?? 'v1', resource };
}

export function serviceResource(hostname: string, vip: string): AdsResource {
  const resource: OutgoingPayload = {
    '@type': ADDRESS_TYPE,
    service: { name: hostname.split('.')[0], namespace: 'default', hostname, addresses: [{ network: '', address: Buffer.from(vip.split('.').map(Number)) }], ports: [{ service_port: 80, target_port: 8080 }] },
  };
  return { name: `default/${hostname}`, version: 'v1', resource };
}

export function denyAllResource(namespace: string, name: string): AdsResource {
  const resource: OutgoingPayload = {
    '@type': AUTHORIZATION_TYPE, name, namespace, scope: 'NAMESPACE', action: 'DENY',
    groups: [{ rules: [] }],
  };
  return { name: `${namespace}/${name}`, version: '', resource };
}

export function staticStrictResource(): AdsResource {
  const resource: OutgoingPayload = {
    '@type': AUTHORIZATION_TYPE, name: 'istio_converted_static_strict', namespace: 'istio-system', scope: 'WORKLOAD_SELECTOR', action: 'DENY',
    groups: [{ rules: [{ matches: [{ not_principals: [{ presence: {} }] }] }] }],
  };
  return { name: 'istio-system/istio_converted_static_strict', version: '', resource };
}
