import { isIP } from 'node:net';
import { bytesToIp, canonicalIp, ipToBytes } from '../base/ip.js';
import { AF_INET, AF_INET6 } from './libc.js';

/**
 * struct sockaddr_in / sockaddr_in6 encoding (Linux layout: family in host order, port in
 * network order). Pure, so it is unit-tested without privileges.
 */
export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;

/** Address family a listener or connection to `host` needs; IPv4-mapped IPv6 stays IPv6. */
export function familyOf(host: string): typeof AF_INET | typeof AF_INET6 | undefined {
  const v = isIP(host);
  return v === 4 ? AF_INET : v === 6 ? AF_INET6 : undefined;
}

export function encodeSockaddr(family: number, host: string, port: number): Buffer {
  if (family === AF_INET) {
    const buf = Buffer.alloc(SOCKADDR_IN_LEN);
    buf.writeUInt16LE(AF_INET, 0);
    buf.writeUInt16BE(port, 2);
    buf.set(ipToBytes(host) ?? [], 4);
    return buf;
  }
  const buf = Buffer.alloc(SOCKADDR_IN6_LEN);
  buf.writeUInt16LE(AF_INET6, 0);
  buf.writeUInt16BE(port, 2);
  const bytes = ipToBytes(host) ?? new Uint8Array(16);
  // ipToBytes unmaps ::ffff:a.b.c.d; a v6 socket needs the mapped form back.
  if (bytes.length === 4) buf.set([0xff, 0xff, ...bytes], 18);
  else buf.set(bytes, 8);
  return buf;
}

/** Decodes a sockaddr_in/in6 into a canonical address (IPv4-mapped IPv6 becomes IPv4). */
export function decodeSockaddr(buf: Buffer): { address: string; port: number } | undefined {
  if (buf.length < 4) return undefined;
  const family = buf.readUInt16LE(0);
  const port = buf.readUInt16BE(2);
  if (family === AF_INET && buf.length >= SOCKADDR_IN_LEN) {
    return { address: bytesToIp(buf.subarray(4, 8)), port };
  }
  if (family === AF_INET6 && buf.length >= SOCKADDR_IN6_LEN) {
    return { address: canonicalIp(bytesToIp(buf.subarray(8, 24)))!, port };
  }
  return undefined;
}
