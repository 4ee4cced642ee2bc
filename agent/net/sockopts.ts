import type net from 'node:net';
import {
  IPPROTO_TCP, SOL_IP, SOL_IPV6, SOL_SOCKET, SO_KEEPALIVE, SO_MARK, SO_ORIGINAL_DST, TCP_NODELAY,
  getIntOption, getRawOption,
} from './libc.js';
import { SOCKADDR_IN6_LEN, SOCKADDR_IN_LEN, decodeSockaddr } from './sockaddr.js';

interface HandleCarrier {
  _handle?: { fd?: unknown } | null;
  _parent?: HandleCarrier | null;
}

/**
 * The OS fd behind a Node socket. Node keeps it on the internal `_handle` (a TLS socket wraps the
 * TCP socket in `_parent`); this is the one place that reaches into Node's internals.
 */
export function socketFd(socket: net.Socket): number | undefined {
  for (let s: HandleCarrier | null | undefined = socket as unknown as HandleCarrier; s; s = s._parent) {
    const fd = s._handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  return undefined;
}

function requireFd(socket: net.Socket): number {
  const fd = socketFd(socket);
  if (fd === undefined) throw new Error('socket has no file descriptor (closed, or not a TCP socket)');
  return fd;
}

/**
 * The destination a connection had before an iptables REDIRECT (SO_ORIGINAL_DST, then
 * IP6T_SO_ORIGINAL_DST), canonical (IPv4-mapped IPv6 becomes IPv4). Undefined when the
 * connection was not redirected or the socket is gone.
 */
export function originalDst(socket: net.Socket): { address: string; port: number } | undefined {
  const fd = socketFd(socket);
  if (fd === undefined) return undefined;
  const v4 = Buffer.alloc(SOCKADDR_IN_LEN);
  if (typeof getRawOption(fd, SOL_IP, SO_ORIGINAL_DST, v4) === 'number') return decodeSockaddr(v4);
  const v6 = Buffer.alloc(SOCKADDR_IN6_LEN);
  if (typeof getRawOption(fd, SOL_IPV6, SO_ORIGINAL_DST, v6) === 'number') return decodeSockaddr(v6);
  return undefined;
}

/** Reads back the options the data plane sets, straight from the kernel (tests and diagnostics). */
export function readSocketOptions(socket: net.Socket): { mark: number; noDelay: boolean; keepAlive: boolean } {
  const fd = requireFd(socket);
  return {
    mark: getIntOption(fd, SOL_SOCKET, SO_MARK, 'SO_MARK') >>> 0,
    noDelay: getIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 'TCP_NODELAY') !== 0,
    keepAlive: getIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, 'SO_KEEPALIVE') !== 0,
  };
}
