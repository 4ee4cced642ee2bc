import type { Problems } from '../../config/problems.js';
import type { Authorization, Clause, MeshSettings } from '../types.js';
import { EMPTY_MATCH, PRESENCE } from './matchers.js';
import type { MtlsMode, ParsedPeerAuthentication } from './types.js';

/** The L4 effect of PeerAuthentication: is plaintext refused? */
export type L4Mode = 'STRICT' | 'PERMISSIVE';

export interface PeerAuthnView {
  readonly mesh: ParsedPeerAuthentication | undefined;
  readonly namespace: ParsedPeerAuthentication | undefined;
  readonly workload: ParsedPeerAuthentication | undefined;
}

/** Oldest first: creation time (absent = newest), then name, then namespace. */
export function compareAge(a: ParsedPeerAuthentication, b: ParsedPeerAuthentication): number {
  const ta = a.creationTimestamp ?? Infinity;
  const tb = b.creationTimestamp ?? Infinity;
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** DISABLE only turns an inherited STRICT off in ambient; it never refuses mTLS. */
function l4(mode: MtlsMode): L4Mode | undefined {
  return mode === 'UNSET' ? undefined : mode === 'STRICT' ? 'STRICT' : 'PERMISSIVE';
}

/** Workload-wide mode: mesh, then namespace, then workload; UNSET inherits. */
export function workloadMode(view: PeerAuthnView): L4Mode {
  let mode: L4Mode = 'PERMISSIVE';
  for (const p of [view.mesh, view.namespace, view.workload]) mode = (p && l4(p.mode)) ?? mode;
  return mode;
}

/** Effective mode for one destination port, with the workload policy's port override. */
export function effectiveMode(view: PeerAuthnView, port: number): L4Mode {
  const override = view.workload?.portLevelMtls.get(port);
  return (override && l4(override)) ?? workloadMode(view);
}

export interface ModeSource {
  readonly policy: ParsedPeerAuthentication;
  readonly level: 'mesh-wide' | 'namespace-wide' | 'workload' | 'port-level';
}

/** Which PeerAuthentication set the effective mode for a port; undefined = default PERMISSIVE. */
export function modeSource(view: PeerAuthnView, port: number): ModeSource | undefined {
  const override = view.workload?.portLevelMtls.get(port);
  if (view.workload && override && l4(override)) return { policy: view.workload, level: 'port-level' };
  const levels = [[view.workload, 'workload'], [view.namespace, 'namespace-wide'], [view.mesh, 'mesh-wide']] as const;
  for (const [policy, level] of levels) if (policy && l4(policy.mode)) return { policy, level };
  return undefined;
}

export function staticStrictKey(settings: MeshSettings): string {
  return `${settings.rootNamespace}/istio_converted_static_strict`;
}

/** `DENY if notPrincipals: [presence]`: refuses exactly the plaintext connections. */
export function staticStrictPolicy(settings: MeshSettings): Authorization {
  return denyPlaintext(settings.rootNamespace, 'istio_converted_static_strict', {});
}

/**
 * The DENY a workload needs, given its effective PeerAuthentications: the shared static STRICT
 * policy, a per-workload-policy converted one when ports differ from the workload-wide mode, or
 * none when every port accepts plaintext.
 */
export function peerAuthnPolicyFor(view: PeerAuthnView): Authorization | 'static' | undefined {
  const base = workloadMode(view);
  const ports = [...(view.workload?.portLevelMtls ?? new Map<number, MtlsMode>())]
    .filter(([, m]) => l4(m) !== undefined && l4(m) !== base).map(([port]) => port).sort((a, b) => a - b);
  if (ports.length === 0) return base === 'STRICT' ? 'static' : undefined;
  const w = view.workload!;
  const name = `converted_peer_authentication_${w.name}`;
  return base === 'STRICT'
    ? denyPlaintext(w.namespace, name, { notDestinationPorts: ports })
    : denyPlaintext(w.namespace, name, { destinationPorts: ports });
}

function denyPlaintext(namespace: string, name: string, ports: { destinationPorts?: number[]; notDestinationPorts?: number[] }): Authorization {
  const clauses: Clause[] = [{ matches: [{ ...EMPTY_MATCH, notPrincipals: [PRESENCE] }] }];
  if (ports.destinationPorts || ports.notDestinationPorts) clauses.push({ matches: [{ ...EMPTY_MATCH, ...ports }] });
  return {
    name, namespace, scope: 'WorkloadSelector', action: 'Deny', rules: [{ clauses }], dryRun: false, origin: 'PeerAuthentication',
  };
}

/** Splits PeerAuthentications by level; ignored ones get a warning naming why. */
export class PeerAuthnIndex {
  private mesh: ParsedPeerAuthentication | undefined;
  private readonly namespaceWide = new Map<string, ParsedPeerAuthentication>();
  private readonly selectors = new Map<string, ParsedPeerAuthentication[]>();

  constructor(all: readonly ParsedPeerAuthentication[], settings: MeshSettings, problems: Problems) {
    const root = settings.rootNamespace;
    for (const p of [...all].sort(compareAge)) {
      const labels = p.selector ? Object.keys(p.selector).length : -1;
      if (p.namespace === root && p.selector !== undefined) {
        problems.warn(p.location, 'spec.selector', `a PeerAuthentication with a selector in the root namespace ${root} is ignored`);
      } else if (p.namespace === root) {
        this.mesh = this.keepOldest(this.mesh, p, 'mesh-wide', problems);
      } else if (labels <= 0) {
        this.namespaceWide.set(p.namespace, this.keepOldest(this.namespaceWide.get(p.namespace), p, `namespace-wide in ${p.namespace}`, problems));
      } else {
        this.selectors.set(p.namespace, [...(this.selectors.get(p.namespace) ?? []), p]);
      }
    }
  }

  private keepOldest(current: ParsedPeerAuthentication | undefined, p: ParsedPeerAuthentication, level: string, problems: Problems): ParsedPeerAuthentication {
    if (!current) return p;
    problems.warn(p.location, '', `ignored: ${current.namespace}/${current.name} is older and also ${level} (oldest wins)`);
    return current;
  }

  /** The mesh, namespace and workload PeerAuthentication in effect for a workload. */
  viewFor(namespace: string, labels: Readonly<Record<string, string>>): PeerAuthnView {
    const workload = this.selectors.get(namespace)?.find((p) => selects(p.selector!, labels));
    return { mesh: this.mesh, namespace: this.namespaceWide.get(namespace), workload };
  }
}

/** Subset test: every selector label present with the same value. */
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}
