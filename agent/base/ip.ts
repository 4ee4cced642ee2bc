import { isIP } from 'node:net';

/**
 * Canonical text form of an IP address, or undefined when `text` is not one.
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4, because a dual-stack socket reports IPv4
 * peers that way and policy must see the same address either way.
 */
export function canonicalIp(text: string): string | undefined {
  const bytes = ipToBytes(text);
  return bytes === undefined ? undefined : bytesToIp(bytes);
}

/** 4 bytes for IPv4 (also for IPv4-mapped IPv6), 16 for IPv6, undefined for anything else. */
export function ipToBytes(text: string): Uint8Array | undefined {
  const family = isIP(text);
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  if (family !== 6) return undefined;
  const bytes = ipv6ToBytes(text.toLowerCase().split('%')[0]!);
  if (isV4Mapped(bytes)) return bytes.subarray(12);
  return bytes;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function ipv6ToBytes(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap >= 0) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const words = (part: string): number[] => {
    if (part === '') return [];
    const result: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
        result.push((a << 8) | b, (c << 8) | d);
      } else {
        result.push(parseInt(piece, 16));
      }
    }
    return result;
  };
  const front = words(head);
  const back = words(tail);
  front.forEach((w, i) => { out[i * 2] = w >> 8; out[i * 2 + 1] = w & 0xff; });
  const offset = 8 - back.length;
  back.forEach((w, i) => { out[(offset + i) * 2] = w >> 8; out[(offset + i) * 2 + 1] = w & 0xff; });
  return out;
}

/** Text form of 4 or 16 address bytes (RFC 5952 compression for IPv6). */
export function bytesToIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

export interface ParsedCidr {
  readonly bytes: Uint8Array;
  readonly prefixLength: number;
}

/**
 * Parses `a.b.c.d`, `a.b.c.d/n`, `x::y` or `x::y/n`. A bare address is a full-length prefix.
 * An IPv4-mapped IPv6 CIDR is turned into IPv4 (its prefix minus 96). Returns an error string when
 * the text is not a valid CIDR.
 */
export function parseCidr(text: string): ParsedCidr | string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return `"${text}" is not an IP address or CIDR`;
  let bytes = ipv6OrV4Bytes(addr, family);
  let max = bytes.length * 8;
  let prefix = max;
  // Node's isIP takes a zone (`fe80::1%eth0`); a zone names an interface of one host, never a policy's block.
  if (addr.includes('%')) return `"${text}" has a zone index (%...), which is not allowed in an address or CIDR`;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    // `/08`: Go's net.ParseCIDR, which istiod uses, refuses a leading zero, so Istio rejects it too.
    if (!/^(0|[1-9]\d{0,2})$/.test(lenText) || Number(lenText) > max) {
      return `"${text}" has an invalid prefix length (0-${max}, without leading zeros)`;
    }
    prefix = Number(lenText);
  }
  if (family === 6 && isV4Mapped(bytes) && prefix >= 96) {
    bytes = bytes.subarray(12);
    prefix -= 96;
    max = 32;
  }
  return { bytes: maskBytes(bytes, prefix), prefixLength: prefix };
}

function ipv6OrV4Bytes(addr: string, family: number): Uint8Array {
  return family === 4 ? Uint8Array.from(addr.split('.').map(Number)) : ipv6ToBytes(addr.toLowerCase());
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i]! &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return out;
}

/** True when the address bytes fall inside the CIDR (families must agree). */
export function cidrContains(cidr: ParsedCidr, addr: Uint8Array): boolean {
  if (cidr.bytes.length !== addr.length) return false;
  let bits = cidr.prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((addr[i]! & mask) !== cidr.bytes[i]) return false;
  }
  return true;
}

/** Blocks that are never the address of a workload or a service VIP, and what they are. */
const NOT_UNICAST: readonly [string, string][] = [
  ['0.0.0.0/8', 'an unspecified ("this network")'], ['127.0.0.0/8', 'a loopback'], ['255.255.255.255/32', 'the broadcast'],
  ['224.0.0.0/4', 'a multicast'], ['::/128', 'the unspecified'], ['::1/128', 'the loopback'], ['ff00::/8', 'a multicast'],
];
const NOT_UNICAST_CIDRS = NOT_UNICAST.map(([cidr, what]) => [parseCidr(cidr) as ParsedCidr, what] as const);

/** Why `ip` (a valid address) cannot be a workload's or a VIP's address; undefined when it can. */
export function notUnicast(ip: string): string | undefined {
  const bytes = ipToBytes(ip);
  const hit = bytes && NOT_UNICAST_CIDRS.find(([cidr]) => cidrContains(cidr, bytes));
  return hit ? `"${ip}" is ${hit[1]} address, not one a workload or service can have` : undefined;
}
