import type { Authorization, Cidr, Match, ServiceAccountMatch, StringMatch } from '../../model/types.js';
import { AUTHORIZATION_TYPE, payloadType, type AuthorizationPayload, type PbAny, type PbCidr, type PbMatch, type PbServiceAccountMatch, type PbStringMatch } from './api.js';
import { cidrFromBytes, enumValue, port, reject, required } from './validate.js';

/**
 * istio.security.Authorization → the model. istiod's Group/Rules/Match become Rule/Clause/Match
 * one to one. Policies istiod derived from PeerAuthentication (`istio_converted_static_strict`,
 * `converted_peer_authentication_*`) are ordinary DENY policies here; only their origin is noted
 * for "why was this denied" answers. Where ztunnel silently drops a malformed match entry (which
 * can widen a policy), meshnode rejects the whole policy instead: a NACK is visible, a silently
 * weaker policy is not.
 */

const PEER_AUTHN_NAMES = /^(istio_converted_static_strict|converted_peer_authentication_.+)$/;

export function translateAuthorization(name: string, any: PbAny): Authorization {
  const type = payloadType(any);
  if (type !== AUTHORIZATION_TYPE) reject(`payload type ${type ?? ('type_url' in any ? `${any.type_url} (not decoded)` : '(none)')} is not ${AUTHORIZATION_TYPE}`);
  const a = any as AuthorizationPayload;
  const policyName = required(a.name, 'name');
  const namespace = required(a.namespace, 'namespace');
  if (`${namespace}/${policyName}` !== name) reject(`namespace/name ${namespace}/${policyName} differs from the resource name`);
  const scope = enumValue(a.scope, ['GLOBAL', 'NAMESPACE', 'WORKLOAD_SELECTOR'], 'scope');
  const action = enumValue(a.action, ['ALLOW', 'DENY'], 'action');
  return {
    name: policyName,
    namespace,
    scope: scope === 'GLOBAL' ? 'Global' : scope === 'NAMESPACE' ? 'Namespace' : 'WorkloadSelector',
    action: action === 'ALLOW' ? 'Allow' : 'Deny',
    rules: a.groups.map((g, gi) => ({
      clauses: g.rules.map((r, ri) => ({
        matches: r.matches.map((m, mi) => match(m, `groups[${gi}].rules[${ri}].matches[${mi}]`)),
      })),
    })),
    dryRun: a.dry_run === true,
    origin: PEER_AUTHN_NAMES.test(policyName) ? 'PeerAuthentication' : 'AuthorizationPolicy',
  };
}

function match(m: PbMatch, at: string): Match {
  const strings = (list: PbStringMatch[], field: string) => list.map((s, i) => stringMatch(s, `${at}.${field}[${i}]`));
  const cidrs = (list: PbCidr[], field: string): Cidr[] => list.map((c, i) => cidrFromBytes(c.address, c.length, `${at}.${field}[${i}]`));
  const ports = (list: number[], field: string) => list.map((p, i) => port(p, `${at}.${field}[${i}]`));
  const accounts = (list: PbServiceAccountMatch[], field: string) => list.map((s, i) => serviceAccount(s, `${at}.${field}[${i}]`));
  return {
    namespaces: strings(m.namespaces, 'namespaces'),
    notNamespaces: strings(m.not_namespaces, 'not_namespaces'),
    principals: strings(m.principals, 'principals'),
    notPrincipals: strings(m.not_principals, 'not_principals'),
    sourceIps: cidrs(m.source_ips, 'source_ips'),
    notSourceIps: cidrs(m.not_source_ips, 'not_source_ips'),
    destinationIps: cidrs(m.destination_ips, 'destination_ips'),
    notDestinationIps: cidrs(m.not_destination_ips, 'not_destination_ips'),
    destinationPorts: ports(m.destination_ports, 'destination_ports'),
    notDestinationPorts: ports(m.not_destination_ports, 'not_destination_ports'),
    serviceAccounts: accounts(m.service_accounts, 'service_accounts'),
    notServiceAccounts: accounts(m.not_service_accounts, 'not_service_accounts'),
  };
}

function stringMatch(s: PbStringMatch, at: string): StringMatch {
  switch (s.match_type) {
    case 'exact': return { kind: 'exact', value: s.exact ?? '' };
    case 'prefix': return { kind: 'prefix', value: s.prefix ?? '' };
    case 'suffix': return { kind: 'suffix', value: s.suffix ?? '' };
    case 'presence': return { kind: 'presence' };
    default: return reject(`${at} has no match variant`);
  }
}

function serviceAccount(s: PbServiceAccountMatch, at: string): ServiceAccountMatch {
  return { namespace: required(s.namespace, `${at}.namespace`), serviceAccount: required(s.serviceAccount, `${at}.serviceAccount`) };
}
