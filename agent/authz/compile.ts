import type { Authorization, MeshSnapshot, Workload } from '../model/types.js';
import { compileMatch, matchHolds, type CompiledMatch, type PeerView } from './match.js';

/** One Authorization with its matchers precompiled. */
export interface CompiledPolicy {
  /** `ns/name` */
  readonly key: string;
  readonly authorization: Authorization;
  /** rules → clauses → matches; a clause with zero matches always holds. */
  readonly rules: readonly (readonly (readonly CompiledMatch[])[])[];
}

/** The policies that can apply to one workload, already split by phase. */
export interface ApplicablePolicies {
  readonly deny: readonly CompiledPolicy[];
  /** DENYs converted from PeerAuthentication (§7), checked after AuthorizationPolicy DENYs. */
  readonly peerAuthn: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly dryRun: readonly CompiledPolicy[];
}

/**
 * Policies indexed the way ztunnel's PolicyStore is: Global, by namespace, and by key for the
 * selector references each workload carries. A decision touches only its workload's policies.
 */
export class CompiledPolicies {
  private readonly global: CompiledPolicy[] = [];
  private readonly byNamespace = new Map<string, CompiledPolicy[]>();
  private readonly byKey = new Map<string, CompiledPolicy>();
  private readonly perWorkload = new WeakMap<Workload, ApplicablePolicies>();

  constructor(authorizations: ReadonlyMap<string, Authorization>) {
    for (const [key, authorization] of authorizations) {
      const compiled = compilePolicy(key, authorization);
      this.byKey.set(key, compiled);
      if (authorization.scope === 'Global') this.global.push(compiled);
      else if (authorization.scope === 'Namespace') {
        const list = this.byNamespace.get(authorization.namespace);
        if (list) list.push(compiled);
        else this.byNamespace.set(authorization.namespace, [compiled]);
      }
    }
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * Global + namespace + the workload's selector references. A reference to an unknown key is
   * skipped, as ztunnel does ("skipping unknown policy"); memoized per (immutable) workload object.
   */
  applicable(w: Workload): ApplicablePolicies {
    const cached = this.perWorkload.get(w);
    if (cached) return cached;
    const refs: CompiledPolicy[] = [];
    for (const key of w.authorizationPolicies) {
      const p = this.byKey.get(key);
      if (p && p.authorization.scope === 'WorkloadSelector') refs.push(p);
    }
    const all = [...this.global, ...(this.byNamespace.get(w.namespace) ?? []), ...refs];
    const live = all.filter((p) => !p.authorization.dryRun);
    const result: ApplicablePolicies = {
      deny: live.filter((p) => p.authorization.action === 'Deny' && p.authorization.origin === 'AuthorizationPolicy'),
      peerAuthn: live.filter((p) => p.authorization.action === 'Deny' && p.authorization.origin === 'PeerAuthentication'),
      allow: live.filter((p) => p.authorization.action === 'Allow'),
      dryRun: all.filter((p) => p.authorization.dryRun),
    };
    this.perWorkload.set(w, result);
    return result;
  }
}

export function compilePolicies(snapshot: MeshSnapshot): CompiledPolicies {
  return new CompiledPolicies(snapshot.authorizations);
}

function compilePolicy(key: string, a: Authorization): CompiledPolicy {
  return { key, authorization: a, rules: a.rules.map((r) => r.clauses.map((c) => c.matches.map(compileMatch))) };
}

/** Index of the first matching rule, or -1. Zero rules never match (§5.1). */
export function firstMatchingRule(p: CompiledPolicy, v: PeerView): number {
  for (let i = 0; i < p.rules.length; i++) if (ruleHolds(p.rules[i]!, v)) return i;
  return -1;
}

function ruleHolds(clauses: readonly (readonly CompiledMatch[])[], v: PeerView): boolean {
  for (const clause of clauses) {
    if (clause.length === 0) continue;
    let any = false;
    for (const m of clause) {
      if (!m.empty && matchHolds(m, v)) { any = true; break; }
    }
    if (!any) return false;
  }
  return true;
}
