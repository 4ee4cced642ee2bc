import { isUtf8 } from 'node:buffer';
import { MeshnodeError } from './errors.js';

/**
 * Protocol Buffers on the wire, for the few small messages the agent itself encodes and decodes
 * (the CA API): a writer of the field kinds those messages use and a strict reader. The reader
 * refuses anything it cannot read exactly — a truncated varint or field, a varint over ten
 * bytes, field number 0, the deprecated group wire types or one that does not exist — instead
 * of guessing; unknown fields of a known wire type are skipped, as proto3 requires.
 */

export class ProtobufError extends MeshnodeError {
  readonly code = 'ERR_PROTOBUF';
}

export const enum WireType {
  VARINT = 0,
  FIXED64 = 1,
  LEN = 2,
  FIXED32 = 5,
}

/** Builds one message; nested messages are written to their own writer and added with `message`. */
export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private length = 0;

  private push(buf: Buffer): void {
    this.parts.push(buf);
    this.length += buf.length;
  }

  private varint(value: bigint): void {
    const bytes: number[] = [];
    let v = value;
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    this.push(Buffer.from(bytes));
  }

  private tag(field: number, wire: WireType): void {
    this.varint(BigInt(field) << 3n | BigInt(wire));
  }

  /** int64 / uint64 field; a negative int64 goes out as its 64-bit two's complement, as protobuf does. */
  int64(field: number, value: number | bigint): this {
    const v = BigInt(value);
    if (v === 0n) return this; // proto3 leaves default values out
    this.tag(field, WireType.VARINT);
    this.varint(BigInt.asUintN(64, v));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LEN);
    this.varint(BigInt(value.length));
    this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  message(field: number, inner: ProtoWriter): this {
    return this.bytes(field, inner.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

/** One field as read: its number, wire type, and value (a varint, or a view of the payload). */
export type ProtoField =
  | { readonly field: number; readonly wire: WireType.VARINT; readonly value: bigint }
  | { readonly field: number; readonly wire: WireType.LEN; readonly value: Buffer }
  | { readonly field: number; readonly wire: WireType.FIXED32 | WireType.FIXED64; readonly value: Buffer };

/** The fields of one encoded message, in order; throws ProtobufError naming what and where on malformed input. */
export function* readFields(buf: Buffer, what: string): Generator<ProtoField> {
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n, i = 0; ; shift += 7n, i++) {
      if (i === 10) throw new ProtobufError(`${what}: varint at byte ${at} is longer than 10 bytes`);
      if (at >= buf.length) throw new ProtobufError(`${what}: truncated varint at byte ${at}`);
      const byte = buf[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
  };
  const take = (n: number, start: number): Buffer => {
    if (n > buf.length - at) throw new ProtobufError(`${what}: field at byte ${start} runs past the end of the message`);
    const out = buf.subarray(at, at + n);
    at += n;
    return out;
  };
  while (at < buf.length) {
    const start = at;
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0 || key >> 3n > 0x1fffffffn) throw new ProtobufError(`${what}: invalid field number at byte ${start}`);
    switch (wire) {
      case WireType.VARINT: yield { field, wire, value: varint() }; break;
      case WireType.FIXED64: yield { field, wire, value: take(8, start) }; break;
      case WireType.FIXED32: yield { field, wire, value: take(4, start) }; break;
      case WireType.LEN: {
        const n = varint();
        if (n > BigInt(buf.length)) throw new ProtobufError(`${what}: field ${field} at byte ${start} runs past the end of the message`);
        yield { field, wire, value: take(Number(n), start) };
        break;
      }
      default: throw new ProtobufError(`${what}: field ${field} at byte ${start} has wire type ${wire}, which is not allowed`);
    }
  }
}

/** The field's value as `want`, or a ProtobufError when the peer sent it with another wire type. */
export function expectWire(f: ProtoField, want: WireType.VARINT, what: string): bigint;
export function expectWire(f: ProtoField, want: WireType.LEN | WireType.FIXED32 | WireType.FIXED64, what: string): Buffer;
export function expectWire(f: ProtoField, want: WireType, what: string): bigint | Buffer {
  if (f.wire !== want) throw new ProtobufError(`${what}: field ${f.field} has wire type ${f.wire}, expected ${want}`);
  return f.value;
}

/** UTF-8 text of a string field; malformed UTF-8 is an error rather than replacement characters. */
export function utf8(value: Buffer, what: string): string {
  if (!isUtf8(value)) throw new ProtobufError(`${what}: string is not valid UTF-8`);
  return value.toString('utf8');
}
