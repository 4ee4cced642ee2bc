import { authorize, type CompiledPolicies } from '../authz/index.js';
import { canonicalIp } from '../base/ip.js';
import { parseSpiffeId } from '../base/spiffe-id.js';
import type { MeshView } from '../state/types.js';
import { AdminRequestError } from './errors.js';
import { namedWorkload } from './tls-check.js';

/**
 * `/authz/check`: the decision the agent would make right now, with its live policies, for an
 * inbound connection to `to` (NAMESPACE/NAME) on `port` from `from-ip`, over mTLS as
 * `from-identity` or as `plaintext`. The same evaluation as `meshnode authz check --config`.
 */
export function authzCheck(mesh: MeshView, policies: CompiledPolicies, url: URL) {
  const q = url.searchParams;
  const workload = namedWorkload(mesh, q.get('to'), 'to');
  const port = q.get('port') ?? '';
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new AdminRequestError(`port: "${port}" is not a port number (1-65535)`);
  const ip = (name: string) => {
    const text = q.get(name);
    const canonical = text === null ? undefined : canonicalIp(text);
    if (canonical === undefined) throw new AdminRequestError(`${name}: ${JSON.stringify(text ?? '')} is not an IP address`);
    return canonical;
  };
  const srcIp = ip('from-ip');
  const dstIp = q.has('to-ip') ? ip('to-ip') : workload.addresses[0];
  if (dstIp === undefined) throw new AdminRequestError(`to: ${workload.namespace}/${workload.name} has no address; give to-ip`);
  if (!workload.addresses.includes(dstIp)) throw new AdminRequestError(`to-ip: ${dstIp} is not an address of ${workload.namespace}/${workload.name}`);
  const identity = q.get('from-identity') ?? undefined;
  if ((identity !== undefined) === q.has('plaintext')) throw new AdminRequestError('exactly one of from-identity or plaintext is required');
  if (identity !== undefined && typeof parseSpiffeId(identity) === 'string') throw new AdminRequestError(`from-identity: ${parseSpiffeId(identity) as string}`);
  const d = authorize(policies, workload, { srcIp, dstIp, dstPort: Number(port), ...(identity ? { identity } : {}) });
  return { decision: d.allowed ? 'allow' : 'deny', policy: d.policy, reason: d.reason, dryRun: d.dryRun };
}
