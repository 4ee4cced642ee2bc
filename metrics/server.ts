import type http from 'node:http';
import { HttpEndpoint } from '../agent/base/http-endpoint.js';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { registry } from './registry.js';

const PATHS = new Set(['/metrics', '/stats/prometheus']);

/** Metrics of other threads of this process (data-plane workers), as `getMetricsAsJSON()` gives them. */
export type ThreadMetrics = () => Promise<MetricObjectWithValues<MetricValue<string>>[][]>;

/**
 * The one registry's text, with the other threads' series summed into it: a counter of the
 * data plane counts every loop's connections once.
 */
async function metricsText(others: ThreadMetrics | undefined): Promise<string> {
  const extra = others ? (await others()).filter((m) => m.length > 0) : [];
  if (extra.length === 0) return registry.metrics();
  // Only the families the other threads report are summed; the rest (process metrics among
  // them, some of which an aggregation would drop) are this thread's alone.
  const shared = new Set(extra.flat().map((m) => m.name));
  const mine = (await registry.getMetricsAsJSON()).filter((m) => shared.has(m.name));
  const own = await Promise.all(registry.getMetricsAsArray().filter((m) => !shared.has(m.name)).map((m) => registry.getSingleMetricAsString(m.name)));
  return `${own.join('\n\n')}\n\n${await AggregatorRegistry.aggregate([mine, ...extra]).metrics()}`;
}

function serveMetrics(others: ThreadMetrics | undefined) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!PATHS.has(path)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    metricsText(others).then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`),
    );
  };
}

/**
 * The Prometheus endpoint (`:15020/metrics`, also `/stats/prometheus` as ztunnel serves it) for
 * the one registry. Plain HTTP/1.1 with short timeouts; scraping never blocks the data plane.
 */
export class MetricsServer extends HttpEndpoint {
  constructor(others?: ThreadMetrics) {
    super(serveMetrics(others));
  }
}
