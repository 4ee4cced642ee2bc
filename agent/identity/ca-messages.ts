import { ProtoWriter, WireType, expectWire, readFields, utf8 } from '../base/protobuf.js';

/**
 * The CA API messages the agent sends and reads (`proto/ca.proto`), encoded by hand: three small
 * messages do not justify a protobuf runtime in every agent. The CA server decodes them with
 * protobuf.js from the same .proto file, which the tests use as the independent reader.
 */

export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';
export const WATCH_REVOCATIONS_PATH = '/istio.v1.auth.MeshnodeRevocationService/WatchRevocations';

export interface CertificateRequest {
  readonly csr: string;
  readonly validitySeconds: number;
  /** `metadata` as a google.protobuf.Struct of string values (Istio reads ImpersonatedIdentity from it). */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

/** IstioCertificateRequest { string csr = 1; int64 validity_duration = 3; Struct metadata = 4; } */
export function encodeCertificateRequest(req: CertificateRequest): Buffer {
  const w = new ProtoWriter().string(1, req.csr).int64(3, req.validitySeconds);
  if (req.metadata) {
    // Struct { map<string, Value> fields = 1 }; Value { string string_value = 3 }.
    const struct = new ProtoWriter();
    for (const [key, value] of Object.entries(req.metadata)) {
      struct.message(1, new ProtoWriter().string(1, key).message(2, new ProtoWriter().string(3, value)));
    }
    w.message(4, struct);
  }
  return w.finish();
}

/** IstioCertificateResponse { repeated string cert_chain = 1; } */
export function decodeCertificateResponse(buf: Buffer): string[] {
  const what = 'IstioCertificateResponse';
  const chain: string[] = [];
  for (const f of readFields(buf, what)) {
    if (f.field === 1) chain.push(utf8(expectWire(f, WireType.LEN, what), `${what}.cert_chain`));
  }
  return chain;
}

export interface RevocationUpdate {
  readonly crl: Buffer;
  readonly crlNumber: bigint;
}

/** RevocationUpdate { bytes crl = 1; uint64 crl_number = 2; } */
export function decodeRevocationUpdate(buf: Buffer): RevocationUpdate {
  const what = 'RevocationUpdate';
  let crl: Buffer | undefined;
  let crlNumber = 0n;
  for (const f of readFields(buf, what)) {
    if (f.field === 1) crl = Buffer.from(expectWire(f, WireType.LEN, what));
    else if (f.field === 2) crlNumber = expectWire(f, WireType.VARINT, what);
  }
  return { crl: crl ?? Buffer.alloc(0), crlNumber };
}

/** RevocationWatchRequest {} */
export const EMPTY_MESSAGE = Buffer.alloc(0);
