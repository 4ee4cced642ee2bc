import type { Workload } from '../model/types.js';
import { parseAddress } from './address.js';
import { firstMatchingRule, type CompiledPolicies, type CompiledPolicy } from './compile.js';
import type { PeerView } from './match.js';
import type { ConnectionAttributes, Decision } from './types.js';

/**
 * The L4 decision for one inbound connection, in ztunnel's order: DENY policies, then the
 * PeerAuthentication plaintext check, then ALLOW with default-deny once any ALLOW applies.
 * Pure: no I/O, cost bounded by the destination workload's own policies.
 */
export function authorize(policies: CompiledPolicies, workload: Workload, conn: ConnectionAttributes): Decision {
  const applicable = policies.applicable(workload);
  const view = peerView(conn);
  const dryRun = applicable.dryRun.length === 0 ? [] : applicable.dryRun.map((p) => ({ policy: p.key, matched: firstMatchingRule(p, view) >= 0 }));
  for (const p of applicable.deny) {
    const rule = firstMatchingRule(p, view);
    if (rule >= 0) return deny('deny-matched', p.key, `denied by DENY policy ${p.key} rule ${rule}`, dryRun);
  }
  for (const p of applicable.peerAuthn) {
    if (firstMatchingRule(p, view) >= 0) return deny('peer-authn-strict', p.key, strictReason(p, conn.dstPort), dryRun);
  }
  if (applicable.allow.length === 0) {
    return { allowed: true, code: 'no-allow-policies', policy: null, reason: 'no ALLOW policy applies; allowed by default', dryRun };
  }
  for (const p of applicable.allow) {
    const rule = firstMatchingRule(p, view);
    if (rule >= 0) return { allowed: true, code: 'allow-matched', policy: p.key, reason: `allowed by ALLOW policy ${p.key} rule ${rule}`, dryRun };
  }
  return deny('no-allow-matched', null, noAllowReason(applicable.allow), dryRun);
}

function deny(code: Decision['code'], policy: string | null, reason: string, dryRun: Decision['dryRun']): Decision {
  return { allowed: false, code, policy, reason, dryRun };
}

const CONVERTED = 'converted_peer_authentication_';

function strictReason(p: CompiledPolicy, port: number): string {
  const { name, namespace } = p.authorization;
  // The shared static policy stands for whichever mesh/namespace/workload policy made it STRICT.
  const source = name.startsWith(CONVERTED) ? `PeerAuthentication ${namespace}/${name.slice(CONVERTED.length)}` : p.key;
  return `plaintext connection refused: PeerAuthentication STRICT for port ${port} (${source})`;
}

function noAllowReason(allow: readonly CompiledPolicy[]): string {
  const shown = allow.slice(0, 5).map((p) => p.key).join(', ');
  const more = allow.length > 5 ? ` and ${allow.length - 5} more` : '';
  return `no ALLOW policy matched (${allow.length} applied: ${shown}${more})`;
}

const SPIFFE = 'spiffe://';

/**
 * Derived strings for the matchers. An identity that is not `spiffe://td/ns/N/sa/S` is treated
 * as no identity, so a malformed peer can never satisfy a positive requirement.
 */
function peerView(conn: ConnectionAttributes): PeerView {
  const src = parseAddress(conn.srcIp);
  const dst = parseAddress(conn.dstIp);
  const id = conn.identity;
  const plaintext: PeerView = { principal: undefined, trustDomain: '', namespace: '', serviceAccount: '', src, dst, port: conn.dstPort };
  if (id === undefined || !id.startsWith(SPIFFE)) return plaintext;
  // spiffe://<td>/ns/<ns>/sa/<sa>, split by hand: this runs once per connection.
  const td = id.indexOf('/', SPIFFE.length);
  const nsEnd = td < 0 || !id.startsWith('/ns/', td) ? -1 : id.indexOf('/', td + 4);
  if (nsEnd < 0 || !id.startsWith('/sa/', nsEnd) || id.indexOf('/', nsEnd + 4) >= 0) return plaintext;
  const trustDomain = id.slice(SPIFFE.length, td);
  const namespace = id.slice(td + 4, nsEnd);
  const serviceAccount = id.slice(nsEnd + 4);
  if (trustDomain === '' || namespace === '' || serviceAccount === '') return plaintext;
  return { principal: id.slice(SPIFFE.length), trustDomain, namespace, serviceAccount, src, dst, port: conn.dstPort };
}
