import type http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
}

/** Binds an HTTP server and resolves with the actual address (port 0 becomes the real port). */
export function listenHttp(server: http.Server, host: string, port: number): Promise<BoundAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      resolve({ host: addr.address, port: addr.port });
    });
  });
}

/** Stops accepting and waits for open requests; idle keep-alive connections close at once. */
export function closeHttp(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Small HTTP/1.1 servers (admin, metrics, readiness) follow ztunnel: short header timeouts. */
export function hardenHttp(server: http.Server): http.Server {
  server.headersTimeout = 2_000;
  server.requestTimeout = 10_000;
  server.maxHeadersCount = 64;
  return server;
}
