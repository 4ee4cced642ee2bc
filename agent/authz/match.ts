import type { Match, ServiceAccountMatch, StringMatch } from '../model/types.js';
import { cidrHas, compileCidr, type Address, type CompiledCidr } from './address.js';

/** The connection as the matchers see it; strings derived once per decision. */
export interface PeerView {
  /** Identity without `spiffe://`; undefined for plaintext. */
  readonly principal: string | undefined;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly src: Address;
  readonly dst: Address;
  readonly port: number;
}

/**
 * Istio string values (`*` = any non-empty string, `*x` suffix, `x*` prefix, else exact), with
 * exact ones in a set so long lists cost one lookup.
 */
interface StringSet {
  readonly exact: ReadonlySet<string>;
  readonly prefixes: readonly string[];
  readonly suffixes: readonly string[];
  readonly presence: boolean;
}

/** A compiled istio.security.Match; absent fields are unconstrained. */
export interface CompiledMatch {
  readonly empty: boolean;
  readonly principals?: StringSet;
  readonly notPrincipals?: StringSet;
  readonly namespaces?: StringSet;
  readonly notNamespaces?: StringSet;
  readonly trustDomains?: StringSet;
  readonly notTrustDomains?: StringSet;
  readonly serviceAccounts?: AccountSet;
  readonly notServiceAccounts?: AccountSet;
  readonly sourceIps?: readonly CompiledCidr[];
  readonly notSourceIps?: readonly CompiledCidr[];
  readonly destinationIps?: readonly CompiledCidr[];
  readonly notDestinationIps?: readonly CompiledCidr[];
  readonly ports?: ReadonlySet<number>;
  readonly notPorts?: ReadonlySet<number>;
}

function strings(list: readonly StringMatch[] | undefined): StringSet | undefined {
  if (!list || list.length === 0) return undefined;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  let presence = false;
  for (const m of list) {
    if (m.kind === 'exact') exact.add(m.value);
    else if (m.kind === 'prefix') prefixes.push(m.value);
    else if (m.kind === 'suffix') suffixes.push(m.value);
    else presence = true;
  }
  return { exact, prefixes, suffixes, presence };
}

/** namespace → service accounts, so a lookup needs no string building per connection. */
type AccountSet = ReadonlyMap<string, ReadonlySet<string>>;

function accounts(list: readonly ServiceAccountMatch[]): AccountSet | undefined {
  if (list.length === 0) return undefined;
  const out = new Map<string, Set<string>>();
  for (const sa of list) out.set(sa.namespace, (out.get(sa.namespace) ?? new Set()).add(sa.serviceAccount));
  return out;
}

/** Plaintext has no (namespace, service account) pair and matches no entry. */
function hasAccount(set: AccountSet, v: PeerView): boolean {
  return v.principal !== undefined && set.get(v.namespace)?.has(v.serviceAccount) === true;
}

function cidrs(list: readonly { address: string; prefixLength: number }[]): readonly CompiledCidr[] | undefined {
  if (list.length === 0) return undefined;
  // A CIDR that does not parse can never contain an address; keeping it as a never-matching
  // entry (rather than dropping it) keeps a positive list from turning into "any address".
  const compiled = list.map(compileCidr).map((c) => c ?? { v4: true, network: 1, mask: 0, bytes: new Uint8Array(4), prefixLength: 0 });
  return compiled;
}

function ports(list: readonly number[]): ReadonlySet<number> | undefined {
  return list.length === 0 ? undefined : new Set(list);
}

export function compileMatch(m: Match): CompiledMatch {
  const c: CompiledMatch = {
    empty: false,
    principals: strings(m.principals), notPrincipals: strings(m.notPrincipals),
    namespaces: strings(m.namespaces), notNamespaces: strings(m.notNamespaces),
    trustDomains: strings(m.trustDomains), notTrustDomains: strings(m.notTrustDomains),
    serviceAccounts: accounts(m.serviceAccounts), notServiceAccounts: accounts(m.notServiceAccounts),
    sourceIps: cidrs(m.sourceIps), notSourceIps: cidrs(m.notSourceIps),
    destinationIps: cidrs(m.destinationIps), notDestinationIps: cidrs(m.notDestinationIps),
    ports: ports(m.destinationPorts), notPorts: ports(m.notDestinationPorts),
  };
  const empty = Object.values(c).every((v) => v === false || v === undefined);
  return { ...c, empty };
}

/** Plaintext (`undefined`) never satisfies a positive entry, not even presence. */
function anyString(set: StringSet, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (set.presence && value !== '') return true;
  if (set.exact.has(value)) return true;
  for (const p of set.prefixes) if (value.startsWith(p)) return true;
  for (const s of set.suffixes) if (value.endsWith(s)) return true;
  return false;
}

function anyCidr(list: readonly CompiledCidr[], addr: Address): boolean {
  for (const c of list) if (cidrHas(c, addr)) return true;
  return false;
}

/** Every constrained field: (positive empty or one matches) and (no negative matches). */
export function matchHolds(m: CompiledMatch, v: PeerView): boolean {
  const plain = v.principal === undefined;
  const ns = plain ? undefined : v.namespace;
  const td = plain ? undefined : v.trustDomain;
  if (m.principals && !anyString(m.principals, v.principal)) return false;
  if (m.notPrincipals && anyString(m.notPrincipals, v.principal)) return false;
  if (m.namespaces && !anyString(m.namespaces, ns)) return false;
  if (m.notNamespaces && anyString(m.notNamespaces, ns)) return false;
  if (m.trustDomains && !anyString(m.trustDomains, td)) return false;
  if (m.notTrustDomains && anyString(m.notTrustDomains, td)) return false;
  if (m.serviceAccounts && !hasAccount(m.serviceAccounts, v)) return false;
  if (m.notServiceAccounts && hasAccount(m.notServiceAccounts, v)) return false;
  if (m.ports && !m.ports.has(v.port)) return false;
  if (m.notPorts && m.notPorts.has(v.port)) return false;
  if (m.sourceIps && !anyCidr(m.sourceIps, v.src)) return false;
  if (m.notSourceIps && anyCidr(m.notSourceIps, v.src)) return false;
  if (m.destinationIps && !anyCidr(m.destinationIps, v.dst)) return false;
  if (m.notDestinationIps && anyCidr(m.notDestinationIps, v.dst)) return false;
  return true;
}
