import type { Readiness } from '../lifecycle/readiness.js';

/**
 * `/status`: what an operator asks first — where the state comes from and whether it is in
 * sync, whether the node's certificates are healthy, how many pods are captured, and what
 * readiness still waits for.
 */
export interface StatusInput {
  readonly node: string;
  readonly version: string;
  readonly readiness: Readiness;
  readonly sources: readonly unknown[];
  readonly certificates: readonly { identity: string; state: string; notAfter: string | null; lastError: string | null }[];
  readonly pods: number;
  readonly connections: number;
}

export function agentStatus(input: StatusInput) {
  const certs = input.certificates;
  const count = (state: string) => certs.filter((c) => c.state === state).length;
  const expiries = certs.map((c) => c.notAfter).filter((t): t is string => t !== null).sort();
  return {
    node: input.node,
    version: input.version,
    ready: input.readiness.isReady(),
    blockers: input.readiness.blockers(),
    failing: input.readiness.failing(),
    sources: input.sources,
    certificates: {
      total: certs.length, available: count('available'), initializing: count('initializing'), unavailable: count('unavailable'),
      earliestExpiry: expiries[0] ?? null,
      problems: certs.filter((c) => c.state !== 'available').map((c) => ({ identity: c.identity, state: c.state, lastError: c.lastError })),
    },
    pods: { captured: input.pods, openConnections: input.connections },
  };
}
