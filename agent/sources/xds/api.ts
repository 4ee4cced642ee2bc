import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { packageRoot } from '../../base/install-layout.js';

import type { ProtoGrpcType } from '../../generated/xds/ads.js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryRequest__Output } from '../../generated/xds/envoy/service/discovery/v3/DeltaDiscoveryRequest.js';
import type { DeltaDiscoveryResponse, DeltaDiscoveryResponse__Output } from '../../generated/xds/envoy/service/discovery/v3/DeltaDiscoveryResponse.js';
import type { Any__Output } from '../../generated/xds/google/protobuf/Any.js';
import type { Address, Address__Output } from '../../generated/xds/istio/workload/Address.js';
import type { Authorization, Authorization__Output } from '../../generated/xds/istio/security/Authorization.js';

/**
 * The delta ADS envelope and the workload/authorization API (`proto/`), loaded at run time with
 * `json: true` so protobuf.js expands every `google.protobuf.Any` whose type is in the loaded set
 * into an object tagged `@type`: one decode for envelope and payload. The message types are
 * generated from the same .proto files with the same loader options (scripts/gen-proto-types.mjs);
 * `__Output` types are what the decoder yields (defaults filled in, enums as names), the others what
 * may be sent. An enum value newer than these files still arrives as its number, which the
 * translators reject by name.
 */

export const ADDRESS_TYPE = 'type.googleapis.com/istio.workload.Address';
export const AUTHORIZATION_TYPE = 'type.googleapis.com/istio.security.Authorization';
export const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

export type { DeltaDiscoveryRequest, DeltaDiscoveryRequest__Output, DeltaDiscoveryResponse, DeltaDiscoveryResponse__Output };
export type { Workload__Output as PbWorkload } from '../../generated/xds/istio/workload/Workload.js';
export type { Service__Output as PbService } from '../../generated/xds/istio/workload/Service.js';
export type { Port__Output as PbPort } from '../../generated/xds/istio/workload/Port.js';
export type { NetworkAddress__Output as PbNetworkAddress } from '../../generated/xds/istio/workload/NetworkAddress.js';
export type { GatewayAddress__Output as PbGatewayAddress } from '../../generated/xds/istio/workload/GatewayAddress.js';
export type { Match__Output as PbMatch } from '../../generated/xds/istio/security/Match.js';
export type { StringMatch__Output as PbStringMatch } from '../../generated/xds/istio/security/StringMatch.js';
export type { Address__Output as PbCidr } from '../../generated/xds/istio/security/Address.js';
export type { ServiceAccountMatch__Output as PbServiceAccountMatch } from '../../generated/xds/istio/security/ServiceAccountMatch.js';
export type { Node as PbNode } from '../../generated/xds/envoy/config/core/v3/Node.js';

/** An enum field as decoded: its name, or its number when these files do not know it. */
export type Enum = string | number;

/** A decoded `Any`: the payload fields tagged `@type`, or raw bytes when the type is unknown. */
export type PbAny = Any__Output;
export type AddressPayload = Address__Output & { '@type': typeof ADDRESS_TYPE };
export type AuthorizationPayload = Authorization__Output & { '@type': typeof AUTHORIZATION_TYPE };

/** What a server may put in a Resource: a payload to be packed into an `Any` by `@type`. */
export type OutgoingPayload = (Address & { '@type': typeof ADDRESS_TYPE }) | (Authorization & { '@type': typeof AUTHORIZATION_TYPE });

/** The `@type` of a decoded payload, or undefined for one left as raw bytes. */
export function payloadType(any: PbAny): string | undefined {
  return '@type' in any && typeof any['@type'] === 'string' ? any['@type'] : undefined;
}

type AdsClientConstructor = ProtoGrpcType['envoy']['service']['discovery']['v3']['AggregatedDiscoveryService'];

interface Loaded {
  readonly service: AdsClientConstructor['service'];
  readonly Client: AdsClientConstructor;
}

let loaded: Loaded | undefined;

/** Shared by the client and the test/bench ADS server, so both speak exactly the same messages. */
export function adsApi(): Loaded {
  if (!loaded) {
    const definition = loadSync(
      ['envoy/service/discovery/v3/ads.proto', 'istio/workload/workload.proto', 'istio/security/authorization.proto'],
      { includeDirs: [join(packageRoot(), 'proto')], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true, json: true },
    );
    const pkg = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    const Client = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService;
    loaded = { service: Client.service, Client };
  }
  return loaded;
}
