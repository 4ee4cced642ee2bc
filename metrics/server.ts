import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from './registry.js';

const PATHS = new Set(['/metrics', '/stats/prometheus']);

/**
 * The Prometheus endpoint (`:15020/metrics`, also `/stats/prometheus` as ztunnel serves it) for
 * the one registry. Plain HTTP/1.1 with short timeouts; scraping never blocks the data plane.
 */
export class MetricsServer {
  private readonly server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!PATHS.has(path)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
    );
  });

  constructor() {
    this.server.headersTimeout = 2_000;
    this.server.requestTimeout = 10_000;
  }

  start(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const addr = this.server.address() as AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  destroy(): void {
    this.server.closeAllConnections();
  }
}
