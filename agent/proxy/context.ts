import type { CompiledPolicies } from '../authz/index.js';
import type { MeshView } from '../state/types.js';
import type { Workload } from '../model/types.js';
import type { NetnsHandle } from '../net/index.js';
import type { RegisteredPod } from '../pods/index.js';
import type { Logger } from '../telemetry/log.js';
import type { CertSource } from '../tunnel/index.js';
import type { Revocations } from '../identity/index.js';
import type { HbonePool } from '../tunnel/index.js';
import type { ConnectionManager } from './connection-manager.js';
import type { DialGate } from './dial-gate.js';
import { crlRejections } from '../../metrics/proxy.js';

/** What the data plane reads from the rest of the agent; getters return the current state. */
export interface ProxyDeps {
  readonly mesh: () => MeshView;
  readonly policies: () => CompiledPolicies;
  readonly certs: CertSource;
  /** CRLs in force: checked on every handshake, and open tunnels re-checked when they change. */
  readonly revocations: Pick<Revocations, 'check' | 'onChange'>;
  readonly trustDomain: string;
  readonly log: Logger;
}

/** Everything a pod's listeners need to handle a connection. */
export interface PodContext {
  readonly pod: RegisteredPod;
  readonly netns: NetnsHandle;
  readonly deps: ProxyDeps;
  readonly pool: HbonePool;
  readonly connections: ConnectionManager;
  /** Admission of this pod's upstream dials from inbound HBONE streams, per peer identity. */
  readonly dials: DialGate;
  readonly log: Logger;
}

/** The workload record of the pod a proxy serves, from the current mesh config. */
export function podWorkload(ctx: PodContext): Workload | undefined {
  const w = ctx.deps.mesh().workloadByName(ctx.pod.namespace, ctx.pod.name);
  return w?.kind === 'Pod' ? w : undefined;
}

/** `ip:port` with IPv6 in brackets. */
export function addrText(ip: string | undefined, port: number | undefined): string {
  const host = ip ?? 'unknown';
  return host.includes(':') ? `[${host}]:${port ?? 0}` : `${host}:${port ?? 0}`;
}

/**
 * The handshake-time revocation check for one side: a revoked chain, or one whose CRL does not
 * verify, is refused and counted (reporter `source` when dialling, `destination` on 15008).
 */
export function handshakeRevocationCheck(deps: ProxyDeps, reporter: 'source' | 'destination') {
  return (chain: readonly Buffer[]): string | undefined => {
    const verdict = deps.revocations.check(chain);
    if (verdict.status === 'good') return undefined;
    crlRejections.inc({ reporter, reason: verdict.status });
    return verdict.status === 'revoked' ? `certificate revoked: ${verdict.why}` : verdict.why;
  };
}
