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
  /**
   * DENYs converted from PeerAuthentication (plaintext to a STRICT port), checked after
   * AuthorizationPolicy DENYs.
   */
  readonly peerAuthn: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly dryRun: readonly CompiledPolicy[];
}

/**
 * Policies indexed by scope: Global, by namespace, and by key for the selector references each
 * workload carries, so a decision touches only its workload's policies. Updated one policy at a
 * time (`upsert`/`remove`): a changed policy is compiled alone, never the whole set.
 */
export class CompiledPolicies {
  private readonly global = new Map<string, CompiledPolicy>();
  private readonly byNamespace = new Map<string, Map<string, CompiledPolicy>>();
  private readonly byKey = new Map<string, CompiledPolicy>();
  /** Memo per (immutable) workload object, valid for one policy generation. */
  private perWorkload = new WeakMap<Workload, ApplicablePolicies>();

  constructor(authorizations: ReadonlyMap<string, Authorization> = new Map()) {
    for (const [key, authorization] of authorizations) this.upsert(key, authorization);
  }

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): CompiledPolicy | undefined {
    return this.byKey.get(key);
  }

  upsert(key: string, authorization: Authorization): void {
    this.remove(key);
    const compiled = compilePolicy(key, authorization);
    this.byKey.set(key, compiled);
    if (authorization.scope === 'Global') this.global.set(key, compiled);
    else if (authorization.scope === 'Namespace') {
      let ns = this.byNamespace.get(authorization.namespace);
      if (!ns) this.byNamespace.set(authorization.namespace, (ns = new Map()));
      ns.set(key, compiled);
    }
    this.perWorkload = new WeakMap();
  }

  remove(key: string): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    this.global.delete(key);
    const ns = this.byNamespace.get(old.authorization.namespace);
    if (ns?.delete(key) && ns.size === 0) this.byNamespace.delete(old.authorization.namespace);
    this.perWorkload = new WeakMap();
  }

  /**
   * Global + namespace + the workload's selector references. A reference to an unknown key is
   * skipped (the policy may arrive later in an incremental feed); memoized per workload object.
   */
  applicable(w: Workload): ApplicablePolicies {
    const cached = this.perWorkload.get(w);
    if (cached) return cached;
    const refs: CompiledPolicy[] = [];
    for (const key of w.authorizationPolicies) {
      const p = this.byKey.get(key);
      if (p && p.authorization.scope === 'WorkloadSelector') refs.push(p);
    }
    const all = [...this.global.values(), ...(this.byNamespace.get(w.namespace)?.values() ?? []), ...refs];
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

/** Index of the first matching rule, or -1. A policy with zero rules never matches. */
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
