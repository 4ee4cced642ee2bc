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

/**
 * What one set of capture listeners serves: a registered pod in its netns, or (host mode) the
 * WorkloadEntries this node runs, from the host netns. The handlers ask it which local workload
 * an address belongs to and never care which of the two it is.
 */
export interface CaptureTarget {
  /** Key of its connections in the ConnectionManager: the pod's uid, or `host`. */
  readonly uid: string;
  /** For messages: `pod shop/cart`, `host vm-1`. */
  readonly label: string;
  /** The local workload at `ip` (an inbound destination, an outbound source), from the current config. */
  local(ip: string | undefined): Workload | undefined;
  /** Why `local(ip)` found nothing, for the access log and the HBONE refusal. */
  absent(ip: string | undefined): string;
  /**
   * Connect to the application from the client's IP. A pod netns routes the replies back to the
   * agent's transparent socket (fwmark rule); the host netns has no such routing.
   */
  readonly preserveClientIp: boolean;
}

/** Everything a set of capture listeners needs to handle a connection. */
export interface PodContext {
  readonly target: CaptureTarget;
  readonly netns: NetnsHandle;
  readonly deps: ProxyDeps;
  readonly pool: HbonePool;
  readonly connections: ConnectionManager;
  /** Admission of this pod's upstream dials from inbound HBONE streams, per peer identity. */
  readonly dials: DialGate;
  readonly log: Logger;
}

/** A registered pod as a capture target: every address in its netns is the pod's workload. */
export function podTarget(pod: RegisteredPod, mesh: () => MeshView): CaptureTarget {
  return {
    uid: pod.uid, label: `pod ${pod.namespace}/${pod.name}`, preserveClientIp: true,
    absent: () => `pod ${pod.namespace}/${pod.name} is not in the mesh config`,
    local: () => {
      const w = mesh().workloadByName(pod.namespace, pod.name);
      return w?.kind === 'Pod' ? w : undefined;
    },
  };
}

/**
 * The WorkloadEntries placed on `node` as a capture target in the host netns: the one at an
 * address is the workload served there, if it is in the mesh (one outside it is never proxied).
 */
export function hostTarget(node: string, mesh: () => MeshView): CaptureTarget {
  return {
    uid: 'host', label: `host ${node}`, preserveClientIp: false,
    absent: (ip) => `no mesh WorkloadEntry of node ${node} has the address ${ip ?? 'unknown'}`,
    local: (ip) => {
      const w = ip === undefined ? undefined : mesh().workloadByIp(ip);
      return w?.kind === 'WorkloadEntry' && w.node === node && w.protocol === 'HBONE' ? w : undefined;
    },
  };
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
