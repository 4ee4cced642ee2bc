import type http from 'node:http';
import { HttpEndpoint } from '../agent/base/http-endpoint.js';
import { registry } from './registry.js';

const PATHS = new Set(['/metrics', '/stats/prometheus']);

function serveMetrics(req: http.IncomingMessage, res: http.ServerResponse): void {
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
}

/**
 * The Prometheus endpoint (`:15020/metrics`, also `/stats/prometheus` as ztunnel serves it) for
 * the one registry. Plain HTTP/1.1 with short timeouts; scraping never blocks the data plane.
 */
export class MetricsServer extends HttpEndpoint {
  constructor() {
    super(serveMetrics);
  }
}
