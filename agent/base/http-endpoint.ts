import http from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { MeshnodeError } from './errors.js';

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Binds a server some other way than `server.listen(port, host)`: the agent binds its node ports
 * with SO_REUSEPORT, which Node 20 cannot ask for, so a new agent can bind them beside the old one
 * during a rolling update. Rejects with an error whose `code` or `errnoName` is the errno.
 */
export type PortBinder = (server: Server, host: string, port: number) => Promise<unknown>;

/**
 * A small HTTP/1.1 server (admin, metrics, readiness) with the life cycle the agent drives:
 * start on HOST:PORT, close on drain, destroy when the drain deadline passes. Short header
 * timeouts as in ztunnel, so a slow client cannot hold one open.
 */
export class HttpEndpoint {
  private readonly server: http.Server;

  constructor(handler: http.RequestListener) {
    this.server = http.createServer(handler);
    this.server.headersTimeout = 2_000;
    this.server.requestTimeout = 10_000;
    this.server.maxHeadersCount = 64;
  }

  /** Binds and resolves with the actual address (port 0 becomes the real port). */
  start(host: string, port: number, bind?: PortBinder): Promise<BoundAddress> {
    return listenOn(this.server, host, port, bind);
  }

  /** Stops accepting and waits for open requests; idle keep-alive connections close at once. */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  /** Stops accepting and drops every connection now. */
  destroy(): void {
    if (this.server.listening) this.server.close();
    this.server.closeAllConnections();
  }
}

/** Binds `server` and resolves with the bound address; a bind failure is a ListenError naming it. */
export function listenOn(server: Server, host: string, port: number, bind?: PortBinder): Promise<BoundAddress> {
  if (bind) {
    return bind(server, host, port).then(() => {
      const addr = server.address() as AddressInfo;
      return { host: addr.address, port: addr.port };
    }, (err: Error & { errnoName?: string }) => {
      throw new ListenError(host, port, err, err.errnoName);
    });
  }
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(new ListenError(host, port, err));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      const addr = server.address() as AddressInfo;
      resolve({ host: addr.address, port: addr.port });
    });
  });
}

/** Binding failed; the message names the address, `errno` is the system error (EADDRINUSE…). */
export class ListenError extends MeshnodeError {
  readonly code = 'ERR_LISTEN';
  readonly errno: string | undefined;

  constructor(host: string, port: number, cause: NodeJS.ErrnoException, errno = cause.code) {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    super(`cannot listen on ${address}: ${errno ?? cause.message}`, { cause });
    this.errno = errno;
  }
}
