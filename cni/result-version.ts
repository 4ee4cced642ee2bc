import { compareVersions } from './version.js';

/**
 * A result re-encoded at the configured spec version, as the CNI spec asks of a chained plugin
 * passing its prevResult on (libcni converts the same way). Among the versions meshnode-cni speaks
 * the shapes differ in one field: 0.3.0 to 0.4.0 require `ips[].version` ("4" or "6"), 1.0.0 and
 * later dropped it. Everything else is kept as it came.
 */
export function resultAt(result: Record<string, unknown>, cniVersion: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...result, cniVersion };
  if (!Array.isArray(result.ips)) return out;
  const versioned = compareVersions(cniVersion, '1.0.0') < 0;
  out.ips = result.ips.map((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return entry;
    const { version: _dropped, ...ip } = entry as Record<string, unknown>;
    return versioned ? { ...ip, version: String(ip.address).includes(':') ? '6' : '4' } : ip;
  });
  return out;
}
