import { bytesToIp, parseCidr } from '../../base/ip.js';
import type { Cidr, Match, ServiceAccountMatch, StringMatch } from '../types.js';

/** As istiod's `stringToMatch`: `*` presence, leading `*` suffix, trailing `*` prefix, else exact. */
export function stringToMatch(value: string): StringMatch {
  if (value === '*') return { kind: 'presence' };
  if (value.startsWith('*')) return { kind: 'suffix', value: value.slice(1) };
  if (value.endsWith('*')) return { kind: 'prefix', value: value.slice(0, -1) };
  return { kind: 'exact', value };
}

/** A service account is `ns/sa`, or a bare `sa` in the policy's own namespace. */
export function serviceAccountMatch(value: string, policyNamespace: string): ServiceAccountMatch {
  const slash = value.indexOf('/');
  return slash < 0
    ? { namespace: policyNamespace, serviceAccount: value }
    : { namespace: value.slice(0, slash), serviceAccount: value.slice(slash + 1) };
}

/**
 * An IP block is a CIDR or single address; host bits are masked. An IPv4-mapped IPv6 block stays an IPv6
 * block (`::ffff:a00:0/104`), which can never contain a canonicalized connection address.
 */
export function cidrToModel(text: string): Cidr | undefined {
  const parsed = parseCidr(text);
  if (typeof parsed === 'string') return undefined;
  const addr = text.split('/')[0]!;
  if (addr.includes(':') && parsed.bytes.length === 4) {
    const mapped = new Uint8Array(16);
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    mapped.set(parsed.bytes, 12);
    return { address: bytesToIp(mapped), prefixLength: parsed.prefixLength + 96 };
  }
  return { address: bytesToIp(parsed.bytes), prefixLength: parsed.prefixLength };
}

export function cidrsToModel(values: readonly string[]): Cidr[] {
  return values.map(cidrToModel).filter((c): c is Cidr => c !== undefined);
}

export const PRESENCE: StringMatch = { kind: 'presence' };

/** A Match with every field empty; callers spread the fields they set over it. */
export const EMPTY_MATCH: Match = {
  namespaces: [], notNamespaces: [], principals: [], notPrincipals: [],
  sourceIps: [], notSourceIps: [], destinationIps: [], notDestinationIps: [],
  destinationPorts: [], notDestinationPorts: [], serviceAccounts: [], notServiceAccounts: [],
};
