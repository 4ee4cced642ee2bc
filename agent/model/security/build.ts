import type { Problems } from '../../config/problems.js';
import type { Authorization, MeshSettings } from '../types.js';
import { PeerAuthnIndex, peerAuthnPolicyFor, selects, staticStrictKey, staticStrictPolicy } from './peer-authn.js';
import { translatePolicy } from './translate-policy.js';
import type { ParsedAuthorizationPolicy, ParsedPeerAuthentication, SecurityObject } from './types.js';

/** The parts of a workload that policy attachment looks at. */
export interface SecurityWorkload {
  readonly uid: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface BuiltAuthorizations {
  /** Keyed `ns/name`. */
  readonly authorizations: Map<string, Authorization>;
  /** Workload uid → selector-scoped and PeerAuthentication-converted policy keys. */
  readonly policiesByWorkload: Map<string, string[]>;
}

interface SelectorPolicy {
  readonly key: string;
  readonly selector: Readonly<Record<string, string>>;
}

/**
 * Translates every security object and attaches selector-scoped policies to workloads, as istiod
 * does for ambient. Global and namespace policies are not attached:
 * the engine finds them by scope.
 */
export function buildAuthorizations(
  objects: readonly SecurityObject[],
  workloads: readonly SecurityWorkload[],
  settings: MeshSettings,
  problems: Problems,
): BuiltAuthorizations {
  const authorizations = new Map<string, Authorization>();
  const selectorPolicies = new Map<string, SelectorPolicy[]>(); // by namespace
  const policies = objects.filter((o): o is ParsedAuthorizationPolicy => o.kind === 'AuthorizationPolicy');
  const peerAuthns = objects.filter((o): o is ParsedPeerAuthentication => o.kind === 'PeerAuthentication');
  checkDuplicates(objects, problems);
  for (const p of policies) {
    const authz = translatePolicy(p, settings, problems);
    if (!authz) continue;
    const key = `${p.namespace}/${p.name}`;
    authorizations.set(key, authz);
    if (p.selector) selectorPolicies.set(p.namespace, [...(selectorPolicies.get(p.namespace) ?? []), { key, selector: p.selector }]);
  }
  const rootSelectors = selectorPolicies.get(settings.rootNamespace) ?? [];
  const peerIndex = new PeerAuthnIndex(peerAuthns, settings, problems);
  if (peerAuthns.length > 0) authorizations.set(staticStrictKey(settings), staticStrictPolicy(settings));
  const policiesByWorkload = new Map<string, string[]>();
  for (const w of workloads) {
    const local = w.namespace === settings.rootNamespace ? [] : selectorPolicies.get(w.namespace) ?? [];
    const keys = [...rootSelectors, ...local].filter((s) => selects(s.selector, w.labels)).map((s) => s.key);
    const peer = peerAuthnPolicyFor(peerIndex.viewFor(w.namespace, w.labels));
    if (peer === 'static') keys.push(staticStrictKey(settings));
    else if (peer) {
      const key = `${peer.namespace}/${peer.name}`;
      authorizations.set(key, peer);
      keys.push(key);
    }
    policiesByWorkload.set(w.uid, keys);
  }
  return { authorizations, policiesByWorkload };
}

function checkDuplicates(objects: readonly SecurityObject[], problems: Problems): void {
  const seen = new Map<string, SecurityObject>();
  for (const o of objects) {
    const id = `${o.kind} ${o.namespace}/${o.name}`;
    const first = seen.get(id);
    if (first) problems.error(o.location, 'metadata.name', `duplicate ${id} (first defined in ${first.location.file} document ${first.location.index})`);
    else seen.set(id, o);
  }
}
