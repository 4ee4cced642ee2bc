import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/**
 * The delta ADS envelope and the workload/authorization API (`proto/`), loaded at run time with
 * `json: true` so protobuf.js expands every `google.protobuf.Any` whose type is in the loaded set
 * into an object tagged `@type` — one decode for envelope and payload. The types below are
 * hand-written: only the fields meshnode reads or writes, shaped as proto-loader presents them
 * (keepCase, enums as names, an unknown enum value as its number, bytes as Buffer).
 */

export const ADDRESS_TYPE = 'type.googleapis.com/istio.workload.Address';
export const AUTHORIZATION_TYPE = 'type.googleapis.com/istio.security.Authorization';
export const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

export type Enum = string | number;

export interface PbNetworkAddress { network?: string; address?: Buffer; length?: number | null }
export interface PbNamespacedHostname { namespace?: string; hostname?: string }
export interface PbGatewayAddress { hostname?: PbNamespacedHostname | null; address?: PbNetworkAddress | null; destination?: string; hbone_mtls_port?: number }
export interface PbPort { service_port?: number; target_port?: number; app_protocol?: Enum }
export interface PbPortList { ports?: PbPort[] }

export interface PbWorkload {
  uid?: string; name?: string; namespace?: string; addresses?: Buffer[]; hostname?: string; network?: string;
  tunnel_protocol?: Enum; trust_domain?: string; service_account?: string;
  waypoint?: PbGatewayAddress | null; network_gateway?: PbGatewayAddress | null; node?: string;
  workload_type?: Enum; application_tunnel?: { protocol?: Enum; port?: number } | null;
  services?: Record<string, PbPortList>; authorization_policies?: string[]; status?: Enum;
  cluster_id?: string; network_mode?: Enum;
  canonical_name?: string; canonical_revision?: string; workload_name?: string;
}

export interface PbService {
  name?: string; namespace?: string; hostname?: string; addresses?: PbNetworkAddress[]; ports?: PbPort[];
  subject_alt_names?: string[]; waypoint?: PbGatewayAddress | null;
  load_balancing?: { routing_preference?: Enum[]; mode?: Enum; health_policy?: Enum } | null;
  ip_families?: Enum; weighted_waypoints?: { destination?: PbGatewayAddress | null; weight?: number }[];
  visibility?: Enum;
}

export interface PbAddress { '@type'?: string; workload?: PbWorkload | null; service?: PbService | null; type?: string }

export interface PbStringMatch { exact?: string; prefix?: string; suffix?: string; presence?: object | null; match_type?: string }
export interface PbCidr { address?: Buffer; length?: number }
export interface PbServiceAccountMatch { namespace?: string; serviceAccount?: string }
export interface PbMatch {
  namespaces?: PbStringMatch[]; not_namespaces?: PbStringMatch[]; principals?: PbStringMatch[]; not_principals?: PbStringMatch[];
  source_ips?: PbCidr[]; not_source_ips?: PbCidr[]; destination_ips?: PbCidr[]; not_destination_ips?: PbCidr[];
  destination_ports?: number[]; not_destination_ports?: number[];
  service_accounts?: PbServiceAccountMatch[]; not_service_accounts?: PbServiceAccountMatch[];
}
export interface PbAuthorization {
  '@type'?: string; name?: string; namespace?: string; scope?: Enum; action?: Enum;
  groups?: { rules?: { matches?: PbMatch[] }[] }[]; dry_run?: boolean;
}

/** A decoded Any: the payload fields plus `@type`; `value` stays raw when the type is unknown. */
export type PbAny = (PbAddress | PbAuthorization) & { '@type'?: string };

export interface PbResource { name?: string; version?: string; resource?: PbAny | null }

export interface DeltaDiscoveryResponse {
  system_version_info?: string; resources?: PbResource[]; type_url?: string; removed_resources?: string[]; nonce?: string;
}

export interface StructValue { stringValue?: string }
export interface PbNode { id: string; metadata: { fields: Record<string, StructValue> } }

export interface DeltaDiscoveryRequest {
  node?: PbNode; type_url: string; resource_names_subscribe?: string[]; resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>; response_nonce?: string;
  error_detail?: { code: number; message: string };
}

function protoRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'envoy'))) return candidate;
    if (dirname(dir) === dir) throw new Error('proto/envoy not found above ' + fileURLToPath(import.meta.url));
  }
}

interface Loaded {
  readonly service: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
}

let loaded: Loaded | undefined;

/** Shared by the client and the test/bench ADS server, so both speak exactly the same messages. */
export function adsApi(): Loaded {
  if (!loaded) {
    const definition = loadSync(
      ['envoy/service/discovery/v3/ads.proto', 'istio/workload/workload.proto', 'istio/security/authorization.proto'],
      { includeDirs: [protoRoot()], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, json: true },
    );
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      envoy: { service: { discovery: { v3: { AggregatedDiscoveryService: grpc.ServiceClientConstructor } } } };
    };
    const Client = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
    loaded = { service: Client.service, Client };
  }
  return loaded;
}
