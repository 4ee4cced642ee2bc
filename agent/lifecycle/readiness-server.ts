import http from 'node:http';
import type { Readiness } from './readiness.js';
import { closeHttp, hardenHttp, listenHttp, type BoundAddress } from './http-listen.js';

/**
 * `:15021/healthz/ready`: `200 ready` when no blocker is pending, else
 * `500 not ready, pending: <names>`. On drain it stops accepting, so probes fail by refusal.
 */
export class ReadinessServer {
  private readonly server = hardenHttp(http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const reply = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(text);
    };
    if (path !== '/healthz/ready') return reply(404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (this.readiness.isReady()) return reply(200, 'ready\n');
    return reply(500, `not ready, pending: ${this.readiness.pendingNames().join(', ')}\n`);
  }));

  constructor(private readonly readiness: Readiness) {}

  start(host: string, port: number): Promise<BoundAddress> {
    return listenHttp(this.server, host, port);
  }

  close(): Promise<void> {
    return closeHttp(this.server);
  }

  destroy(): void {
    this.server.closeAllConnections();
  }
}
