/**
 * `when` condition keys. Five are L4 attributes ztunnel can enforce (`l4WhenAttributes`); the
 * rest are valid Istio keys that only a waypoint or sidecar can evaluate.
 */
export type L4WhenKey = 'source.ip' | 'source.namespace' | 'source.principal' | 'destination.ip' | 'destination.port';

const L4_KEYS: ReadonlySet<string> = new Set<L4WhenKey>([
  'source.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port',
]);

const HTTP_KEYS: ReadonlySet<string> = new Set([
  'remote.ip', 'request.auth.principal', 'request.auth.audiences', 'request.auth.presenter',
  'connection.sni', 'source.serviceAccount', 'source.trustDomain',
]);

const HTTP_MAP_PREFIXES = ['request.headers[', 'request.auth.claims['];

export function isL4WhenKey(key: string): key is L4WhenKey {
  return L4_KEYS.has(key);
}

/** Why `key` is not a valid condition key, or undefined when it is one. */
export function whenKeyProblem(key: string): string | undefined {
  if (L4_KEYS.has(key) || HTTP_KEYS.has(key)) return undefined;
  if (key.startsWith('experimental.envoy.filters.') && key.length > 'experimental.envoy.filters.'.length) return undefined;
  const prefix = HTTP_MAP_PREFIXES.find((p) => key.startsWith(p));
  if (prefix) {
    return key.endsWith(']') && key.length > prefix.length + 1 ? undefined : `"${key}" must have the form ${prefix}NAME]`;
  }
  return `unknown condition key "${key}"; L4 keys are ${[...L4_KEYS].join(', ')}`;
}

/** Keys whose values are IP addresses or CIDRs. */
export function isIpKey(key: string): boolean {
  return key === 'source.ip' || key === 'destination.ip' || key === 'remote.ip';
}
