import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/**
 * The Istio CA API (`proto/ca.proto`), loaded at run time. Shared by `meshnode ca` (server) and
 * the certificate manager (client) so both speak exactly the same messages.
 */

export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
export const WATCH_REVOCATIONS_PATH = '/istio.v1.auth.MeshnodeRevocationService/WatchRevocations';

/**
 * `google.protobuf.Struct` as proto-loader presents it: protobuf.js's bundled well-known types
 * keep their camelCase JSON field names even with keepCase, and `oneofs` adds `kind`.
 */
export interface StructValue {
  readonly stringValue?: string;
  readonly kind?: string;
}
export interface Struct {
  readonly fields?: Record<string, StructValue>;
}

export interface IstioCertificateRequest {
  csr: string;
  validity_duration: number;
  metadata?: Struct | null;
}

export interface IstioCertificateResponse {
  cert_chain: string[];
}

export interface RevocationUpdate {
  crl: Buffer;
  crl_number: number;
}

/** Finds `proto/ca.proto` walking up from this module (works from the source tree and dist/). */
function protoPath(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto', 'ca.proto');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('proto/ca.proto not found above ' + fileURLToPath(import.meta.url));
  }
}

interface Loaded {
  readonly service: grpc.ServiceDefinition;
  readonly Client: grpc.ServiceClientConstructor;
  readonly revocation: grpc.ServiceDefinition;
  readonly RevocationClient: grpc.ServiceClientConstructor;
}

let loaded: Loaded | undefined;

export function caApi(): Loaded {
  if (!loaded) {
    const definition = loadSync(protoPath(), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor; MeshnodeRevocationService: grpc.ServiceClientConstructor } } };
    };
    const Client = pkg.istio.v1.auth.IstioCertificateService;
    const RevocationClient = pkg.istio.v1.auth.MeshnodeRevocationService;
    loaded = { service: Client.service, Client, revocation: RevocationClient.service, RevocationClient };
  }
  return loaded;
}

/** A string value from request metadata, or undefined when absent or not a string. */
export function metadataString(metadata: Struct | null | undefined, key: string): string | undefined {
  const value = metadata?.fields?.[key];
  return value?.kind === 'stringValue' && typeof value.stringValue === 'string' ? value.stringValue : undefined;
}

export function stringStruct(values: Record<string, string>): Struct {
  return { fields: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { stringValue: v }])) };
}
