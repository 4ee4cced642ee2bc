import type { Readiness } from './readiness.js';
import { HttpEndpoint } from './http-endpoint.js';

/**
 * `:15021/healthz/ready`: `200 ready` when no blocker is pending, else
 * `500 not ready, pending: <names>`. On drain it stops accepting, so probes fail by refusal.
 */
export class ReadinessServer extends HttpEndpoint {
  constructor(readiness: Readiness) {
    super((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const reply = (status: number, text: string) => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(text);
      };
      if (path !== '/healthz/ready') return reply(404, 'not found\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
      if (readiness.isReady()) return reply(200, 'ready\n');
      return reply(500, `not ready, pending: ${readiness.pendingNames().join(', ')}\n`);
    });
  }
}
