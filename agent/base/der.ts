import { MeshnodeError } from './errors.js';
/**
 * A minimal DER writer and reader for the few X.509/PKCS#10 structures meshnode builds and checks
 * on hot paths (the CA signs ≥ 1,000 CSRs/s; object-model libraries cost several times the
 * signature itself). Only definite lengths, only what DER allows.
 */

export class DerError extends MeshnodeError {
  readonly code = 'ERR_DER';
}

function lengthBytes(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = content.length === 1 ? content[0]! : Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const seq = (...content: Buffer[]): Buffer => tlv(0x30, ...content);
export const set = (...content: Buffer[]): Buffer => tlv(0x31, ...content);
export const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
export const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
export const bool = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
/** Context-specific tag `[n]`, constructed (explicit) or primitive (implicit). */
export const context = (n: number, constructed: boolean, ...content: Buffer[]): Buffer =>
  tlv(0x80 | (constructed ? 0x20 : 0) | n, ...content);

/** A non-negative INTEGER from big-endian magnitude bytes (minimal, sign-padded). */
export function unsignedInt(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function smallInt(value: number): Buffer {
  return unsignedInt(Buffer.from([value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]));
}

export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), bytes);
}

/** A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte. */
export function namedBits(bits: number[]): Buffer {
  const top = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(top / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return bitString(bytes, 7 - (top & 7));
}

const oidCache = new Map<string, Buffer>();

function base128(value: number): number[] {
  const out: number[] = [value & 0x7f];
  for (let n = Math.floor(value / 128); n > 0; n = Math.floor(n / 128)) out.unshift(0x80 | (n & 0x7f));
  return out;
}

export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map(Number);
  const out = [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)].flatMap(base128);
  const encoded = tlv(0x06, Buffer.from(out));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5), whole seconds. */
export function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(digits.slice(2) + 'Z', 'ascii'));
  return tlv(0x18, Buffer.from(digits + 'Z', 'ascii'));
}

/** One parsed TLV: `raw` is the whole element, `value` its contents (both views of the input). */
export interface DerNode {
  readonly tag: number;
  readonly raw: Buffer;
  readonly value: Buffer;
}

/** Reads the element at `offset`; throws DerError on truncation or non-DER lengths. */
export function read(buf: Buffer, offset = 0): DerNode {
  if (offset + 2 > buf.length) throw new DerError('truncated element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[offset + 1]!;
  let header = 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    if (count === 0 || count > 4) throw new DerError('unsupported length encoding');
    if (offset + 2 + count > buf.length) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + buf[offset + 2 + i]!;
    header += count;
  }
  const end = offset + header + len;
  if (end > buf.length) throw new DerError('element longer than its container');
  return { tag, raw: buf.subarray(offset, end), value: buf.subarray(offset + header, end) };
}

/** The children of a constructed element, in order. */
export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let offset = 0; offset < node.value.length;) {
    const child = read(node.value, offset);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

/** Reads a whole buffer as exactly one element of the expected tag. */
export function readExactly(buf: Buffer, tag: number, what: string): DerNode {
  const node = read(buf, 0);
  if (node.tag !== tag || node.raw.length !== buf.length) throw new DerError(`${what} is not valid DER`);
  return node;
}

export function expect(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new DerError(`${what}: unexpected structure`);
  return node;
}

export function decodeOid(node: DerNode | undefined): string {
  if (!node || node.tag !== 0x06 || node.value.length === 0 || node.value[node.value.length - 1]! & 0x80) {
    throw new DerError('expected an object identifier');
  }
  const subids: number[] = [];
  let acc = 0;
  for (const byte of node.value) {
    acc = acc * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      subids.push(acc);
      acc = 0;
    }
  }
  const first = subids[0]!;
  const top = first < 40 ? 0 : first < 80 ? 1 : 2;
  return [top, first - 40 * top, ...subids.slice(1)].join('.');
}
