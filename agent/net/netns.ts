import net from 'node:net';
import { MESH_MARK } from '../base/contracts/ports.js';
import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import {
  AF_INET, AF_INET6, CLONE_NEWNET, IPV6_TRANSPARENT, IPV6_V6ONLY, IP_BIND_ADDRESS_NO_PORT, IP_TRANSPARENT, SOL_IP, SOL_IPV6,
  SOL_SOCKET, SO_KEEPALIVE, SO_MARK, SO_REUSEADDR, SO_REUSEPORT, bind, closeFd, listen, setIntOption,
  setns, streamSocket,
} from './libc.js';
import { NetnsError, SourcePortTakenError, SyscallError, TransparentBindError } from './errors.js';
import { encodeSockaddr, familyOf } from './sockaddr.js';
import { createLogger } from '../telemetry/log.js';

/** TCP keepalive idle time for every socket the agent makes or accepts. */
export const KEEPALIVE_IDLE_MS = 60_000;
const LISTEN_BACKLOG = 128;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ListenOptions {
  /** Address to bind; default all addresses (dual-stack `[::]`, or `0.0.0.0` without IPv6). */
  host?: string;
  /** Serve with this server (e.g. a tls.Server) instead of a fresh net.Server. */
  server?: net.Server;
}

export interface ConnectOptions {
  /** SO_MARK for the socket; pod handles default to MESH_MARK, the agent's own netns to none. */
  mark?: number;
  localAddress?: string;
  /**
   * Bind `localAddress` (port 0) with IP_TRANSPARENT / IPV6_TRANSPARENT, so it may be an address
   * the namespace does not own: the connection then carries another host's IP as its source
   * (as ztunnel does). Replies only come back when the namespace routes them to the socket
   * locally (the in-pod fwmark 0x111 → table 100 rule). Rejects with TransparentBindError, before
   * anything is sent, when the bind is impossible.
   */
  transparent?: boolean;
  /**
   * Transparent only: the source port to take, the client's own, so the connection has the
   * 4-tuple the client's kernel already made unique and no port is searched for. When that
   * 4-tuple is still taken (a TIME_WAIT of an earlier connection) the kernel picks the port.
   */
  localPort?: number;
  /** Fail with ETIMEDOUT when the connection is not established in time (default 10 s). */
  timeoutMs?: number;
}

/**
 * A network namespace the agent can make sockets in. Listeners and connections made through a
 * handle live in its namespace for life, whatever namespace the agent itself is in; the handle
 * only has to stay open while new sockets are being made.
 */
export interface NetnsHandle {
  /** The netns file (undefined for the agent's own namespace). */
  readonly path: string | undefined;
  /**
   * The namespace's identity, `<dev>:<inode>` of its nsfs file: two paths name the same
   * namespace exactly when their ids are equal (a reused /proc/<pid>/ns/net path does not).
   */
  readonly id: string;
  listen(port: number, opts?: ListenOptions): Promise<net.Server>;
  connect(host: string, port: number, opts?: ConnectOptions): Promise<net.Socket>;
  /**
   * A path that opens this same namespace from any thread of the process while the handle is
   * open (`/proc/self/fd/<fd>`): how a data-plane worker thread gets a handle of its own. The
   * opener must compare the id, since the fd may have been closed and reused in between.
   * Undefined for the agent's own namespace, and for handles that are not backed by an fd.
   */
  shareablePath?(): string | undefined;
  /** Releases the namespace fd; sockets already made keep working. Idempotent. */
  close(): void;
}

const log = createLogger('net');
let ownNetnsFd: number | undefined;

/** The agent's own netns, opened once from the main thread before it ever leaves it. */
function ownNetns(): number {
  ownNetnsFd ??= openSync('/proc/thread-self/ns/net', 'r');
  return ownNetnsFd;
}

/**
 * Runs `fn` synchronously inside the netns `fd` and always returns to the agent's own netns.
 * Failing to return would leave every later socket of the process in a pod's namespace, so that
 * is fatal.
 */
export function inNetns<T>(fd: number, path: string, fn: () => T): T {
  const own = ownNetns();
  try {
    setns(fd, CLONE_NEWNET, path);
  } catch (err) {
    throw new NetnsError(path, 'invalid', err);
  }
  try {
    return fn();
  } finally {
    try {
      setns(own, CLONE_NEWNET, 'return to the agent netns');
    } catch (err) {
      log.error('cannot return to the agent network namespace; exiting', { error: err });
      process.exit(70);
    }
  }
}

function listenerFd(family: number, host: string, port: number, mark: number | undefined): number {
  const fd = streamSocket(family);
  try {
    if (mark !== undefined) setIntOption(fd, SOL_SOCKET, SO_MARK, mark, 'SO_MARK');
    setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
    // A restarted agent binds the pod ports while the old one still drains, so some process always
    // accepts new connections (ztunnel's restart model).
    setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1, 'SO_REUSEPORT');
    setIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1, 'SO_KEEPALIVE');
    if (family === AF_INET6 && host === '::') setIntOption(fd, SOL_IPV6, IPV6_V6ONLY, 0, 'IPV6_V6ONLY');
    bind(fd, encodeSockaddr(family, host, port), `${host.includes(':') ? `[${host}]` : host}:${port}`);
    listen(fd, LISTEN_BACKLOG);
    return fd;
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/** Dual-stack wildcard first; a netns without IPv6 support gets an IPv4 wildcard. */
function wildcardListenerFd(port: number, mark: number | undefined): number {
  try {
    return listenerFd(AF_INET6, '::', port, mark);
  } catch (err) {
    if (err instanceof SyscallError && (err.errnoName === 'EAFNOSUPPORT' || err.errnoName === 'EADDRNOTAVAIL')) {
      return listenerFd(AF_INET, '0.0.0.0', port, mark);
    }
    throw err;
  }
}

interface TransparentSource {
  readonly ip: string;
  /** 0: chosen by connect(). */
  readonly port: number;
}

function connectionFd(family: number, mark: number | undefined, source: TransparentSource | undefined): number {
  const fd = streamSocket(family);
  try {
    if (mark !== undefined) setIntOption(fd, SOL_SOCKET, SO_MARK, mark, 'SO_MARK');
    if (source !== undefined) bindTransparent(fd, family, source);
    return fd;
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/**
 * Binds the source whether or not the namespace owns it. Without a port, connect() chooses it,
 * not bind(): bind() must find a port that no socket on the address holds, TIME_WAIT ones
 * included, and that search grows with every recent connection from the same client until it
 * takes most of a CPU (on the event loop); connect() only needs the 4-tuple to be unused. With a
 * port, SO_REUSEADDR lets the bind succeed over a TIME_WAIT of that address and port, and
 * connect() then checks the 4-tuple.
 */
function bindTransparent(fd: number, family: number, source: TransparentSource): void {
  const text = `${source.ip.includes(':') ? `[${source.ip}]` : source.ip}:${source.port}`;
  try {
    if (familyOf(source.ip) !== family) throw new Error('not the address family of the destination');
    if (family === AF_INET6) setIntOption(fd, SOL_IPV6, IPV6_TRANSPARENT, 1, 'IPV6_TRANSPARENT');
    else setIntOption(fd, SOL_IP, IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
    if (source.port === 0) setIntOption(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1, 'IP_BIND_ADDRESS_NO_PORT');
    else setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, 'SO_REUSEADDR');
  } catch (err) {
    throw new TransparentBindError(source.ip, err);
  }
  try {
    bind(fd, encodeSockaddr(family, source.ip, source.port), text);
  } catch (err) {
    if (source.port !== 0 && err instanceof SyscallError && err.errnoName === 'EADDRINUSE') throw new SourcePortTakenError(source.port);
    throw new TransparentBindError(source.ip, err);
  }
}

/** connect() errors that mean "this 4-tuple is taken", not "the destination is unreachable". */
const TUPLE_TAKEN = new Set(['EADDRNOTAVAIL', 'EADDRINUSE']);

function tuneSocket(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
}

function serve(fd: number, server: net.Server): Promise<net.Server> {
  // Accepted sockets inherit the listener's mark; Nagle and keepalive are per socket.
  server.prependListener('connection', tuneSocket);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function establish(socket: net.Socket, host: string, port: number, opts: ConnectOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`connect ${host}:${port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
      socket.destroy(err);
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    // The adopted fd already lives in the target netns; Node connects it (non-blocking) there.
    // A transparent socket is bound already; Node's own bind would not set the option first.
    const bindByNode = opts.localAddress && !opts.transparent;
    socket.connect({ host, port, ...(bindByNode ? { localAddress: opts.localAddress } : {}) }, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** `<dev>:<inode>` of a namespace file (see NetnsHandle.id). */
export function netnsIdOf(stat: { dev: number; ino: number }): string {
  return `${stat.dev}:${stat.ino}`;
}

class Namespace implements NetnsHandle {
  private fd: number | undefined;
  readonly id: string;

  constructor(readonly path: string | undefined, fd: number | undefined, private readonly defaultMark: number | undefined) {
    this.fd = fd;
    this.id = netnsIdOf(fd === undefined ? statSync('/proc/thread-self/ns/net') : fstatSync(fd));
  }

  /** Runs socket creation in this namespace (no setns for the agent's own). */
  private within<T>(fn: () => T): T {
    if (this.path === undefined) return fn();
    if (this.fd === undefined) throw new NetnsError(this.path, 'closed');
    return inNetns(this.fd, this.path, fn);
  }

  listen(port: number, opts: ListenOptions = {}): Promise<net.Server> {
    const host = opts.host;
    const family = host === undefined ? undefined : familyOf(host);
    if (host !== undefined && family === undefined) {
      return Promise.reject(new TypeError(`listen host "${host}" is not an IP address`));
    }
    try {
      const fd = this.within(() => host === undefined || family === undefined
        ? wildcardListenerFd(port, this.defaultMark)
        : listenerFd(family, host, port, this.defaultMark));
      return serve(fd, opts.server ?? net.createServer());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  connect(host: string, port: number, opts: ConnectOptions = {}): Promise<net.Socket> {
    const family = familyOf(host);
    if (family === undefined) return Promise.reject(new TypeError(`connect host "${host}" is not an IP address`));
    if (opts.transparent && !opts.localAddress) return Promise.reject(new TypeError('a transparent connection needs a localAddress'));
    const source = opts.transparent ? opts.localAddress : undefined;
    const preferred = source !== undefined ? opts.localPort ?? 0 : 0;
    const attempt = (sourcePort: number) => this.connectOnce(family, host, port, opts, source === undefined ? undefined : { ip: source, port: sourcePort });
    if (preferred === 0) return attempt(0);
    return attempt(preferred).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (err instanceof SourcePortTakenError || (typeof code === 'string' && TUPLE_TAKEN.has(code))) return attempt(0);
      throw err;
    });
  }

  private connectOnce(family: number, host: string, port: number, opts: ConnectOptions, source: TransparentSource | undefined): Promise<net.Socket> {
    let fd: number;
    try {
      fd = this.within(() => connectionFd(family, opts.mark ?? this.defaultMark, source));
    } catch (err) {
      return Promise.reject(err);
    }
    let socket: net.Socket;
    try {
      socket = new net.Socket({ fd, readable: true, writable: true });
    } catch (err) {
      closeFd(fd);
      return Promise.reject(err);
    }
    tuneSocket(socket);
    return establish(socket, host, port, opts);
  }

  shareablePath(): string | undefined {
    return this.fd === undefined || this.path === undefined ? undefined : `/proc/self/fd/${this.fd}`;
  }

  close(): void {
    if (this.fd === undefined || this.path === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Opens a pod network namespace file (e.g. `/var/run/netns/x` or `/proc/<pid>/ns/net`). Every
 * socket made through the handle carries MESH_MARK. Throws NetnsError when the path is missing or
 * is not a network namespace (it is entered once here to find out).
 */
export function openNetns(path: string): NetnsHandle {
  let fd: number;
  try {
    // Non-blocking: a FIFO handed in as a netns path must fail the setns below, not block the event loop in open().
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new NetnsError(path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'invalid', err);
  }
  try {
    inNetns(fd, path, () => undefined);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return new Namespace(path, fd, MESH_MARK);
}

/** The agent's own network namespace: sockets are made without setns and unmarked by default. */
export function currentNetns(): NetnsHandle {
  return new Namespace(undefined, undefined, undefined);
}
