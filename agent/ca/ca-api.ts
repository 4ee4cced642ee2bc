import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { packageRoot } from '../base/install-layout.js';
import type { ProtoGrpcType } from '../generated/ca/ca.js';
import type { Struct, Struct__Output } from '../generated/ca/google/protobuf/Struct.js';

/**
 * The Istio CA API (`proto/ca.proto`) for `meshnode ca`, loaded at run time with gRPC's proto
 * loader. The agent's certificate manager encodes the same messages itself
 * (`identity/ca-messages.ts`); the tests check one against the other. The message types are
 * generated from the same file with the same loader options (scripts/gen-proto-types.mjs):
 * `__Output` is what the decoder yields, the other what may be sent. `google.protobuf.Struct`
 * comes from protobuf.js's bundled well-known types, which keep their camelCase field names
 * (`stringValue`) even with keepCase.
 */

export type { IstioCertificateRequest, IstioCertificateRequest__Output } from '../generated/ca/istio/v1/auth/IstioCertificateRequest.js';
export type { IstioCertificateResponse, IstioCertificateResponse__Output } from '../generated/ca/istio/v1/auth/IstioCertificateResponse.js';

export type { RevocationUpdate, RevocationUpdate__Output } from '../generated/ca/istio/v1/auth/RevocationUpdate.js';

type CaClientConstructor = ProtoGrpcType['istio']['v1']['auth']['IstioCertificateService'];

type RevocationClientConstructor = ProtoGrpcType['istio']['v1']['auth']['MeshnodeRevocationService'];

/** A connected CA client, typed by the service definition. */
export type CaServiceClient = InstanceType<CaClientConstructor>;

interface Loaded {
  readonly service: CaClientConstructor['service'];
  readonly Client: CaClientConstructor;
  readonly revocation: RevocationClientConstructor['service'];
  readonly RevocationClient: RevocationClientConstructor;
}

let loaded: Loaded | undefined;

export function caApi(): Loaded {
  if (!loaded) {
    const definition = loadSync(join(packageRoot(), 'proto', 'ca.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    const Client = pkg.istio.v1.auth.IstioCertificateService;
    const RevocationClient = pkg.istio.v1.auth.MeshnodeRevocationService;
    loaded = { service: Client.service, Client, revocation: RevocationClient.service, RevocationClient };
  }
  return loaded;
}

/** A string value from request metadata, or undefined when absent or not a string. */
export function metadataString(metadata: Struct__Output | null | undefined, key: string): string | undefined {
  const value = metadata?.fields[key];
  return value?.kind === 'stringValue' && typeof value.stringValue === 'string' ? value.stringValue : undefined;
}

/** A Struct of string values, as the agent sends its request metadata (the tests' and bench's grpc-js clients send the same). */
export function stringStruct(values: Record<string, string>): Struct {
  return { fields: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { stringValue: v }])) };
}
