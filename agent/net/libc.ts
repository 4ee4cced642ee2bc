import koffi from 'koffi';
import { constants } from 'node:os';
import { SyscallError } from './errors.js';

/**
 * The native boundary: the handful of libc calls Node has no API for (setns, SO_MARK,
 * SO_ORIGINAL_DST, sockets created in another network namespace). Everything here is synchronous
 * on the calling (main) thread, which is what makes the setns window safe: no other JavaScript
 * and no libuv socket creation can run between entering a namespace and leaving it.
 */
const libc = koffi.load('libc.so.6');

const setnsFn = libc.func('int setns(int fd, int nstype)');
const socketFn = libc.func('int socket(int domain, int type, int protocol)');
const setsockoptFn = libc.func('int setsockopt(int fd, int level, int name, const void *val, uint32_t len)');
const getsockoptFn = libc.func('int getsockopt(int fd, int level, int name, _Out_ void *val, _Inout_ uint32_t *len)');
const bindFn = libc.func('int bind(int fd, const void *addr, uint32_t len)');
const listenFn = libc.func('int listen(int fd, int backlog)');
const closeFn = libc.func('int close(int fd)');
const getrlimitFn = libc.func('int getrlimit(int resource, _Out_ void *rlim)');
const setrlimitFn = libc.func('int setrlimit(int resource, const void *rlim)');
const sendtoFn = libc.func('intptr_t sendto(int fd, const void *buf, uintptr_t len, int flags, const void *addr, uint32_t addrlen)');

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
export const CLONE_NEWNET = 0x40000000;

export const SOL_SOCKET = 1;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
export const IPPROTO_TCP = 6;

export const SO_REUSEADDR = 2;
export const SO_KEEPALIVE = 9;
export const SO_REUSEPORT = 15;
export const SO_MARK = 36;
export const TCP_NODELAY = 1;
export const IPV6_V6ONLY = 26;
/** Bind to (and send from) an address that is not local: the source of a transparent proxy. */
export const IP_TRANSPARENT = 19;
export const IPV6_TRANSPARENT = 75;
/**
 * Leave the port of a bind() with port 0 to connect(), which picks one that makes the 4-tuple
 * unique (linux/in.h). Set at the SOL_IP level for IPv6 sockets too: the kernel routes it there.
 */
export const IP_BIND_ADDRESS_NO_PORT = 24;
/** SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST share the number 80. */
export const SO_ORIGINAL_DST = 80;

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

function check(result: number, syscall: string, detail?: string): number {
  if (result < 0) {
    const errno = koffi.errno();
    throw new SyscallError(syscall, errnoName(errno), errno, detail);
  }
  return result;
}

export function setns(fd: number, nstype: number, detail?: string): void {
  check(setnsFn(fd, nstype) as number, 'setns', detail);
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
/** sun_path of struct sockaddr_un. */
const UNIX_PATH_MAX = 108;

/**
 * Sends one datagram to a unix socket path (a leading `@` names the abstract namespace) from a
 * fresh socket, closed again at once; Node's dgram has no unix datagram sockets.
 */
export function sendUnixDatagram(path: string, message: string): void {
  const name = Buffer.from(path.startsWith('@') ? `\0${path.slice(1)}` : path);
  if (name.length >= UNIX_PATH_MAX) throw new SyscallError('sendto', 'ENAMETOOLONG', 0, path);
  const addr = Buffer.alloc(2 + name.length);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  const fd = check(socketFn(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number, 'socket');
  try {
    const body = Buffer.from(message);
    check(Number(sendtoFn(fd, body, body.length, 0, addr, addr.length)), 'sendto', path);
  } finally {
    closeFn(fd);
  }
}

/** A non-blocking, close-on-exec stream socket, the flags libuv expects of an adopted fd. */
export function streamSocket(family: number): number {
  return check(socketFn(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number, 'socket');
}

export function setIntOption(fd: number, level: number, name: number, value: number, label: string): void {
  const buf = Buffer.alloc(4);
  buf.writeInt32LE(value);
  check(setsockoptFn(fd, level, name, buf, 4) as number, 'setsockopt', label);
}

export function getIntOption(fd: number, level: number, name: number, label: string): number {
  const buf = Buffer.alloc(4);
  check(getsockoptFn(fd, level, name, buf, [4]) as number, 'getsockopt', label);
  return buf.readInt32LE(0);
}

/** getsockopt into a raw buffer; returns the filled length, or the errno name on failure. */
export function getRawOption(fd: number, level: number, name: number, buf: Buffer): number | string {
  const len = [buf.length];
  const result = getsockoptFn(fd, level, name, buf, len) as number;
  return result < 0 ? errnoName(koffi.errno()) : len[0]!;
}

export function bind(fd: number, sockaddr: Buffer, detail: string): void {
  check(bindFn(fd, sockaddr, sockaddr.length) as number, 'bind', detail);
}

export function listen(fd: number, backlog: number): void {
  check(listenFn(fd, backlog) as number, 'listen');
}

/** Closes an fd that was never handed to Node (error paths only). */
export function closeFd(fd: number): void {
  closeFn(fd);
}

const RLIMIT_NOFILE = 7;

/** The open-files limit: `soft` applies now, `hard` is the most it may be raised to. */
export function getFileLimit(): { soft: bigint; hard: bigint } {
  const buf = Buffer.alloc(16);
  check(getrlimitFn(RLIMIT_NOFILE, buf) as number, 'getrlimit', 'RLIMIT_NOFILE');
  return { soft: buf.readBigUInt64LE(0), hard: buf.readBigUInt64LE(8) };
}

export function setFileLimit(soft: bigint, hard: bigint): void {
  const buf = Buffer.alloc(16);
  buf.writeBigUInt64LE(soft, 0);
  buf.writeBigUInt64LE(hard, 8);
  check(setrlimitFn(RLIMIT_NOFILE, buf) as number, 'setrlimit', 'RLIMIT_NOFILE');
}
