import type { Readiness } from './readiness.js';
import { HttpEndpoint } from '../base/http-endpoint.js';

/**
 * `:15021/healthz/ready`: `200 ready` when no blocker is pending and no condition fails, else
 * `500 not ready, pending: <names>; failing: <name>: <reason>; …` (each part only when it has
 * something), then one line per pending blocker saying what it waits for. On drain it stops accepting, so probes fail by refusal.
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
      const pending = readiness.pendingNames();
      const failing = readiness.failing();
      if (pending.length === 0 && failing.length === 0) return reply(200, 'ready\n');
      const parts = [...(pending.length > 0 ? [`pending: ${pending.join(', ')}`] : []), ...(failing.length > 0 ? [`failing: ${failing.join('; ')}`] : [])];
      // The first line is ztunnel's; the ones after it say what each pending blocker waits for.
      const waits = readiness.blockers().filter((b) => b.waitsFor).map((b) => `  ${b.name}: waiting for ${b.waitsFor} (since ${b.since})\n`);
      return reply(500, `not ready, ${parts.join('; ')}\n${waits.join('')}`);
    });
  }
}
