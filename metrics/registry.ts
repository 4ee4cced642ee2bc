import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one Prometheus registry of a meshnode process. Subsystem files in this folder
 * (identity.ts, proxy.ts, ...) register their metrics on it at import time, exactly once; the
 * catalogue in metrics/README.md is the contract for names, types and labels.
 */
export const registry = new Registry();

let defaultsStarted = false;

/** Process metrics (CPU, RSS, fds, event-loop lag) under the `meshnode_` prefix; idempotent. */
export function collectProcessMetrics(): void {
  if (defaultsStarted) return;
  defaultsStarted = true;
  collectDefaultMetrics({ register: registry, prefix: 'meshnode_' });
  // prom-client names these three gauges `*_total`, which Prometheus reserves for counters
  // (`promtool check metrics` rejects them); the fd and event-loop metrics cover the same ground.
  for (const misnamed of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
    registry.removeSingleMetric(`meshnode_nodejs_${misnamed}`);
  }
}
