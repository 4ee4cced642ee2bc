import { isIP } from 'node:net';
import { canonicalIp } from '../base/ip.js';

/**
 * The HBONE `:authority`: `<ip>:<port>` of the final target, IPv6 in brackets
 * (as ztunnel sends it). Parsing is strict — anything else (no port, port 0, userinfo, spaces,
 * percent-encoding, hostnames) is a malformed request, answered 400.
 */
export interface SocketAddress {
  readonly ip: string;
  readonly port: number;
}

export function formatAuthority(addr: SocketAddress): string {
  return isIP(addr.ip) === 6 ? `[${addr.ip}]:${addr.port}` : `${addr.ip}:${addr.port}`;
}

const PORT = /^[1-9][0-9]{0,4}$/;

/** The canonical address, or a lower-case reason why the authority is not one. */
export function parseAuthority(text: string | undefined): SocketAddress | string {
  if (text === undefined || text === '') return 'missing :authority';
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return `malformed authority "${text}"`;
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (isIP(host) !== 6) return `authority "${text}" is not an ip:port`;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return `authority "${text}" has no port`;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (isIP(host) !== 4) return `authority "${text}" is not an ip:port`;
  }
  if (!PORT.test(portText) || Number(portText) > 65535) return `authority "${text}" has an invalid port`;
  const ip = canonicalIp(host);
  if (ip === undefined) return `authority "${text}" is not an ip:port`;
  return { ip, port: Number(portText) };
}
