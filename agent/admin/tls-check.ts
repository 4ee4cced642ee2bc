import { authorize, type CompiledPolicies, type Decision } from '../authz/index.js';
import type { Workload } from '../model/types.js';
import type { MeshView } from '../state/types.js';
import { AdminRequestError } from './errors.js';

/**
 * `tls-check SRC DST`: how traffic from one workload to another travels and what decides it.
 * A captured source (HBONE) reaching a captured destination goes over HBONE with the source's
 * certificate; anything else arrives as plaintext, which a STRICT PeerAuthentication refuses.
 * The answer is the authorization the destination's agent would make for that connection.
 */
export interface TlsCheck {
  readonly source: { workload: string; identity: string; protocol: string; address: string };
  readonly destination: { workload: string; identity: string; protocol: string; address: string; port: number };
  readonly mtls: boolean;
  readonly connectionSecurityPolicy: 'mutual_tls' | 'none';
  readonly why: string;
  readonly decision: 'allow' | 'deny';
  readonly policy: string | null;
  readonly reason: string;
}

export function namedWorkload(mesh: MeshView, text: string | null, param: string): Workload {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(text ?? '');
  if (!m) throw new AdminRequestError(`${param}: ${JSON.stringify(text ?? '')} is not NAMESPACE/NAME`);
  const w = mesh.workloadByName(m[1]!, m[2]!);
  if (!w) throw new AdminRequestError(`${param}: no Pod or WorkloadEntry ${m[1]}/${m[2]} in the mesh state`);
  return w;
}

/** The port to check: the one asked for, else the first port of the first service the workload backs. */
function portFor(dst: Workload, asked: string | null): number {
  if (asked !== null) {
    if (!/^\d{1,5}$/.test(asked) || Number(asked) < 1 || Number(asked) > 65535) throw new AdminRequestError(`port: "${asked}" is not a port number (1-65535)`);
    return Number(asked);
  }
  for (const ports of dst.services.values()) for (const target of ports.values()) return target;
  throw new AdminRequestError(`port: ${dst.namespace}/${dst.name} backs no service; say which port to check`);
}

export function tlsCheck(mesh: MeshView, policies: CompiledPolicies, url: URL): TlsCheck {
  const src = namedWorkload(mesh, url.searchParams.get('src'), 'src');
  const dst = namedWorkload(mesh, url.searchParams.get('dst'), 'dst');
  const port = portFor(dst, url.searchParams.get('port'));
  const srcIp = src.addresses[0];
  const dstIp = dst.addresses[0];
  if (srcIp === undefined || dstIp === undefined) {
    throw new AdminRequestError(`${srcIp === undefined ? 'src' : 'dst'}: the workload has no address yet`);
  }
  const mtls = src.protocol === 'HBONE' && dst.protocol === 'HBONE';
  const why = mtls ? 'both workloads are captured: HBONE with the source\'s certificate'
    : src.protocol !== 'HBONE' ? 'the source is not captured (not in the mesh): its traffic leaves as plaintext'
      : 'the destination is not captured: the source\'s agent passes the connection through as plaintext';
  const srcIdentity = mesh.identityOf(src);
  const decision: Decision = authorize(policies, dst, { srcIp, dstIp, dstPort: port, ...(mtls ? { identity: srcIdentity } : {}) });
  const party = (w: Workload) => ({ workload: `${w.namespace}/${w.name}`, identity: mesh.identityOf(w), protocol: w.protocol, address: w.addresses[0]! });
  return {
    source: party(src), destination: { ...party(dst), port }, mtls,
    connectionSecurityPolicy: mtls ? 'mutual_tls' : 'none', why,
    decision: decision.allowed ? 'allow' : 'deny', policy: decision.policy, reason: decision.reason,
  };
}
