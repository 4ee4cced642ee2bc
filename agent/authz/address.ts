import { cidrContains, ipToBytes } from '../base/ip.js';
import type { Cidr } from '../model/types.js';

/** An address ready for containment tests: IPv4 as an unsigned 32-bit number, IPv6 as bytes. */
export type Address = number | Uint8Array | undefined;

/** Parses an address, canonicalizing IPv4-mapped IPv6 to IPv4 as ztunnel does; undefined if not an IP. */
export function parseAddress(text: string): Address {
  const v4 = parseDottedQuad(text);
  if (v4 !== undefined) return v4;
  const bytes = ipToBytes(text);
  if (!bytes) return undefined;
  return bytes.length === 4 ? ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0 : bytes;
}

/** The common case without allocation. */
function parseDottedQuad(text: string): number | undefined {
  let value = 0;
  let part = -1;
  let dots = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (part < 0 || dots === 3) return undefined;
      value = value * 256 + part;
      part = -1;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // leading zero, as node:net rejects
      part = (part < 0 ? 0 : part) * 10 + (c - 48);
      if (part > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || part < 0) return undefined;
  return value * 256 + part;
}

export interface CompiledCidr {
  readonly v4: boolean;
  readonly network: number;
  readonly mask: number;
  readonly bytes: Uint8Array;
  readonly prefixLength: number;
}

/**
 * A model CIDR. An address written in IPv6 form stays IPv6 even when it is IPv4-mapped: such a
 * block can never contain a canonicalized connection address, so it never matches.
 */
export function compileCidr(c: Cidr): CompiledCidr | undefined {
  let bytes = ipToBytes(c.address);
  if (!bytes) return undefined;
  if (c.address.includes(':') && bytes.length === 4) {
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    mapped.set(bytes, 12);
    bytes = mapped;
  }
  const v4 = bytes.length === 4;
  if (!v4) bytes = maskV6(bytes, c.prefixLength);
  const mask = v4 && c.prefixLength > 0 ? (0xffffffff << (32 - c.prefixLength)) >>> 0 : 0;
  const network = v4 ? ((((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0) & mask) >>> 0 : 0;
  return { v4, network, mask, bytes, prefixLength: c.prefixLength };
}

export function cidrHas(c: CompiledCidr, addr: Address): boolean {
  if (addr === undefined) return false;
  if (typeof addr === 'number') return c.v4 && ((addr & c.mask) >>> 0) === c.network;
  return !c.v4 && cidrContains({ bytes: c.bytes, prefixLength: c.prefixLength }, addr);
}

/** Host bits cleared, so a hand-written `2001:db8::5/32` acts as its network, as in istiod. */
function maskV6(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= (0xff << (8 - bits)) & 0xff;
  }
  return out;
}
