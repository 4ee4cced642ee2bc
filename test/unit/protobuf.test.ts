import test from 'ava';
import { ProtoWriter, ProtobufError, WireType, readFields } from '../../agent/base/protobuf.js';
import { decodeCertificateResponse, decodeRevocationUpdate, encodeCertificateRequest } from '../../agent/identity/ca-messages.js';
import { caApi } from '../../agent/ca/ca-api.js';

// The agent's hand-written CA messages against protobuf.js reading and writing the same .proto
// (what `meshnode ca` uses), and the reader's refusals of what it cannot read exactly.

test('a certificate request encoded by the agent decodes in protobuf.js to the same fields', (t) => {
  const { requestDeserialize } = caApi().service.CreateCertificate;
  const csr = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB…ü\n-----END CERTIFICATE REQUEST-----\n';
  const decoded = requestDeserialize(encodeCertificateRequest({ csr, validitySeconds: 86_400, metadata: { ImpersonatedIdentity: 'spiffe://td/ns/a/sa/b', other: '' } }));
  t.is(decoded.csr, csr);
  t.is(Number(decoded.validity_duration), 86_400);
  t.deepEqual(Object.keys(decoded.metadata?.fields ?? {}).sort(), ['ImpersonatedIdentity', 'other']);
  t.is(decoded.metadata?.fields['ImpersonatedIdentity']?.stringValue, 'spiffe://td/ns/a/sa/b');
  t.is(decoded.metadata?.fields['other']?.stringValue, '');
  const bare = requestDeserialize(encodeCertificateRequest({ csr: 'x', validitySeconds: 0 }));
  t.is(Number(bare.validity_duration), 0);
  t.is(bare.metadata, null);
});

test('a response and a revocation update written by protobuf.js decode exactly', (t) => {
  const { responseSerialize } = caApi().service.CreateCertificate;
  const chain = ['leaf-pem', 'intermediate-pem', 'root-pem ü'];
  t.deepEqual(decodeCertificateResponse(responseSerialize({ cert_chain: chain })), chain);
  t.deepEqual(decodeCertificateResponse(responseSerialize({ cert_chain: [] })), []);
  const update = caApi().revocation.WatchRevocations.responseSerialize({ crl: Buffer.from([0x30, 0x82, 1, 2]), crl_number: 2 ** 40 + 3 });
  t.deepEqual(decodeRevocationUpdate(update), { crl: Buffer.from([0x30, 0x82, 1, 2]), crlNumber: 2n ** 40n + 3n });
});

test('unknown fields of every wire type are skipped; a negative int64 is ten bytes of two\'s complement', (t) => {
  const w = new ProtoWriter().string(9, 'skip').int64(10, -1).string(1, 'leaf');
  const extra = Buffer.from([(11 << 3) | WireType.FIXED32, 1, 2, 3, 4, (12 << 3) | WireType.FIXED64, 1, 2, 3, 4, 5, 6, 7, 8]);
  const buf = Buffer.concat([w.finish(), extra]);
  t.deepEqual(decodeCertificateResponse(buf), ['leaf']);
  const fields = [...readFields(buf, 'm')];
  t.deepEqual(fields.map((f) => f.field), [9, 10, 1, 11, 12]);
  t.is(fields[1]!.value, 2n ** 64n - 1n);
  t.is(new ProtoWriter().int64(1, -1).finish().length, 11);
});

const MALFORMED: Array<[string, number[], RegExp]> = [
  ['a truncated varint', [0x08, 0x80], /truncated varint/],
  ['a varint of eleven bytes', [0x08, ...Array(10).fill(0x80), 0x01], /longer than 10 bytes/],
  ['field number 0', [0x02, 0x00], /invalid field number/],
  ['the group wire type 3', [0x0b], /wire type 3/],
  ['the group wire type 4', [0x0c], /wire type 4/],
  ['wire type 6', [0x0e], /wire type 6/],
  ['a length past the end', [0x0a, 0x05, 0x61], /runs past the end/],
  ['a huge length', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], /runs past the end/],
  ['a fixed32 cut short', [0x0d, 1, 2], /runs past the end/],
];

for (const [what, bytes, message] of MALFORMED) {
  test(`a message with ${what} is refused`, (t) => {
    const err = t.throws(() => decodeCertificateResponse(Buffer.from(bytes)));
    t.true(err instanceof ProtobufError);
    t.regex(err!.message, message);
    t.regex(err!.message, /^IstioCertificateResponse: /);
  });
}

test('a known field with the wrong wire type, or a string that is not UTF-8, is refused', (t) => {
  t.throws(() => decodeCertificateResponse(Buffer.from([0x08, 0x01])), { instanceOf: ProtobufError, message: /field 1 has wire type 0, expected 2/ });
  t.throws(() => decodeCertificateResponse(Buffer.from([0x0a, 0x02, 0xc3, 0x28])), { instanceOf: ProtobufError, message: /not valid UTF-8/ });
  t.throws(() => decodeRevocationUpdate(Buffer.from([0x12, 0x01, 0x00])), { instanceOf: ProtobufError, message: /field 2 has wire type 2, expected 0/ });
});
