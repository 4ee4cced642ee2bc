import type { Problems } from '../../config/problems.js';
import type { Authorization, Clause, Match, MeshSettings, Rule } from '../types.js';
import { cidrsToModel, EMPTY_MATCH, serviceAccountMatch, stringToMatch } from './matchers.js';
import type { ParsedAuthorizationPolicy, ParsedCondition, ParsedOperation, ParsedRule, ParsedSource } from './types.js';
import { isL4WhenKey } from './when-keys.js';

const HTTP_SOURCE_FIELDS = ['requestPrincipals', 'notRequestPrincipals', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const;
const HTTP_OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

/**
 * One AuthorizationPolicy → zero or one Authorization, as istiod's ambient translation does.
 * Ignored policies (targetRef, AUDIT, CUSTOM) yield undefined with a
 * warning: they neither deny nor count as ALLOW policies.
 */
export function translatePolicy(p: ParsedAuthorizationPolicy, settings: MeshSettings, problems: Problems): Authorization | undefined {
  const warn = (path: string, message: string) => problems.warn(p.location, path, message);
  if (p.hasTargetRef) {
    warn('spec', 'policy with targetRef/targetRefs applies to waypoints and gateways; it is ignored at L4');
    return undefined;
  }
  if (p.action === 'AUDIT' || p.action === 'CUSTOM') {
    warn('spec.action', `ztunnel does not support the ${p.action} action; the policy is ignored (it neither denies nor allows)`);
    return undefined;
  }
  const rules: Rule[] = [];
  p.rules.forEach((rule, i) => {
    const http = httpAttributes(rule);
    if (http.length > 0 && p.action === 'ALLOW') {
      warn(`spec.rules[${i}]`, `ztunnel does not support HTTP attributes (found: ${http.join(', ')}); this ALLOW rule is discarded`);
      rules.push(DISCARDED_RULE);
      return;
    }
    if (http.length > 0) warn(`spec.rules[${i}]`, `HTTP attributes (found: ${http.join(', ')}) are dropped from this DENY rule; its L4 remainder is enforced`);
    if (p.action === 'ALLOW') warnNegativeOnlyIdentity(rule, `spec.rules[${i}]`, warn);
    rules.push(translateRule(rule, p.namespace));
  });
  if (p.action === 'DENY' && rules.length > 0 && !rules.some(canFire)) {
    warn('spec.rules', 'this DENY policy has no enforceable rules at L4 and will have no effect');
  }
  const scope = p.selector !== undefined ? 'WorkloadSelector' : p.namespace === settings.rootNamespace ? 'Global' : 'Namespace';
  return {
    name: p.name, namespace: p.namespace, scope, action: p.action === 'DENY' ? 'Deny' : 'Allow',
    rules, dryRun: p.dryRun, origin: 'AuthorizationPolicy',
  };
}

const POSITIVE_IDENTITY = ['principals', 'namespaces', 'serviceAccounts', 'trustDomains'] as const;
const NEGATIVE_IDENTITY = ['notPrincipals', 'notNamespaces', 'notServiceAccounts', 'notTrustDomains'] as const;

/**
 * ISTIO-SECURITY-2021-004: an ALLOW source that constrains identity only negatively is met by a
 * plaintext caller, which has no identity to exclude. Legal, but rarely what the author meant.
 */
function warnNegativeOnlyIdentity(rule: ParsedRule, path: string, warn: (path: string, message: string) => void): void {
  rule.from.forEach((source, j) => {
    if (!source) return;
    const negative = NEGATIVE_IDENTITY.filter((k) => source[k].length > 0);
    if (negative.length === 0 || POSITIVE_IDENTITY.some((k) => source[k].length > 0)) return;
    warn(`${path}.from[${j}].source`, `only negative identity fields (${negative.join(', ')}): plaintext callers without an identity also match; `
      + 'add principals or namespaces, or require mTLS with a STRICT PeerAuthentication');
  });
}

/**
 * A discarded ALLOW rule stays as a rule that can never match, so that rule numbers in decisions
 * are the YAML's; a policy whose rules all never match behaves exactly like one with zero rules.
 */
const DISCARDED_RULE: Rule = { clauses: [{ matches: [EMPTY_MATCH] }] };

/** A rule becomes clauses: one for its `to`, one for its `from`, one per `when` condition. */
function translateRule(rule: ParsedRule, policyNamespace: string): Rule {
  const clauses: Clause[] = [];
  if (rule.to.length > 0) clauses.push({ matches: rule.to.map(operationMatch) });
  if (rule.from.length > 0) clauses.push({ matches: rule.from.map((s) => sourceMatch(s, policyNamespace)) });
  for (const cond of rule.when) clauses.push({ matches: [conditionMatch(cond)] });
  return { clauses };
}

function operationMatch(op: ParsedOperation | undefined): Match {
  if (!op) return EMPTY_MATCH;
  return { ...EMPTY_MATCH, destinationPorts: op.ports, notDestinationPorts: op.notPorts };
}

function sourceMatch(s: ParsedSource | undefined, policyNamespace: string): Match {
  if (!s) return EMPTY_MATCH;
  const match: Match = {
    ...EMPTY_MATCH,
    principals: s.principals.map(stringToMatch), notPrincipals: s.notPrincipals.map(stringToMatch),
    namespaces: s.namespaces.map(stringToMatch), notNamespaces: s.notNamespaces.map(stringToMatch),
    sourceIps: cidrsToModel(s.ipBlocks), notSourceIps: cidrsToModel(s.notIpBlocks),
    serviceAccounts: s.serviceAccounts.map((v) => serviceAccountMatch(v, policyNamespace)),
    notServiceAccounts: s.notServiceAccounts.map((v) => serviceAccountMatch(v, policyNamespace)),
  };
  if (s.trustDomains.length === 0 && s.notTrustDomains.length === 0) return match;
  return { ...match, trustDomains: s.trustDomains.map(stringToMatch), notTrustDomains: s.notTrustDomains.map(stringToMatch) };
}

/** The five L4 `when` keys fill one field; any other key leaves an empty (never-matching) match. */
function conditionMatch(c: ParsedCondition): Match {
  if (!isL4WhenKey(c.key)) return EMPTY_MATCH;
  switch (c.key) {
    case 'source.ip': return { ...EMPTY_MATCH, sourceIps: cidrsToModel(c.values), notSourceIps: cidrsToModel(c.notValues) };
    case 'destination.ip': return { ...EMPTY_MATCH, destinationIps: cidrsToModel(c.values), notDestinationIps: cidrsToModel(c.notValues) };
    case 'source.principal': return { ...EMPTY_MATCH, principals: c.values.map(stringToMatch), notPrincipals: c.notValues.map(stringToMatch) };
    case 'source.namespace': return { ...EMPTY_MATCH, namespaces: c.values.map(stringToMatch), notNamespaces: c.notValues.map(stringToMatch) };
    case 'destination.port': return { ...EMPTY_MATCH, destinationPorts: c.values.map(Number), notDestinationPorts: c.notValues.map(Number) };
  }
}

/** Names of the HTTP-only attributes a rule mentions, in rule order. */
export function httpAttributes(rule: ParsedRule): string[] {
  const found = new Set<string>();
  for (const s of rule.from) for (const f of HTTP_SOURCE_FIELDS) if (s && s[f].length > 0) found.add(f);
  for (const o of rule.to) for (const f of HTTP_OPERATION_FIELDS) if (o && o[f].length > 0) found.add(f);
  for (const c of rule.when) if (!isL4WhenKey(c.key)) found.add(c.key);
  return [...found];
}

/** A rule can fire unless one of its clauses holds nothing but empty matches. */
function canFire(rule: Rule): boolean {
  return rule.clauses.every((c) => c.matches.length === 0 || c.matches.some((m) => !isEmptyMatch(m)));
}

export function isEmptyMatch(m: Match): boolean {
  return m.namespaces.length + m.notNamespaces.length + m.principals.length + m.notPrincipals.length +
    m.sourceIps.length + m.notSourceIps.length + m.destinationIps.length + m.notDestinationIps.length +
    m.destinationPorts.length + m.notDestinationPorts.length + m.serviceAccounts.length +
    m.notServiceAccounts.length + (m.trustDomains?.length ?? 0) + (m.notTrustDomains?.length ?? 0) === 0;
}
