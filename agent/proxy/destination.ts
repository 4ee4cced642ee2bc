import type { MeshView } from '../state/types.js';
import type { Service, Workload } from '../model/types.js';
import type { SocketAddress } from '../tunnel/index.js';
import type { DenialReason } from '../../metrics/proxy.js';
import { POD_PORT_SET } from '../base/contracts/ports.js';

/**
 * Where an outbound connection goes, as ztunnel decides it: a Service VIP resolves to a random
 * healthy endpoint with the port mapped to its target port; a pod IP to its workload; an
 * enrolled (HBONE) workload is reached through its 15008, anything else is plain TCP to the
 * original destination. Secure naming expects the workload's identity plus, through a Service,
 * the Service's subjectAltNames.
 */
export type OutboundTarget =
  | { readonly kind: 'hbone'; readonly address: SocketAddress; readonly workload: Workload; readonly service?: Service; readonly expected: readonly string[] }
  | { readonly kind: 'passthrough'; readonly address: SocketAddress; readonly workload?: Workload; readonly service?: Service }
  | { readonly kind: 'refused'; readonly reason: DenialReason; readonly message: string };

export function resolveOutbound(mesh: MeshView, dst: SocketAddress, random: () => number = Math.random): OutboundTarget {
  if (POD_PORT_SET.has(dst.port)) {
    return { kind: 'refused', reason: 'loop', message: `destination port ${dst.port} is a data-plane port` };
  }
  const service = mesh.serviceByVip(dst.ip);
  if (service) return viaService(mesh, service, dst, random);
  const workload = mesh.workloadByIp(dst.ip);
  if (!workload) return { kind: 'passthrough', address: dst };
  return toWorkload(mesh, workload, dst, undefined);
}

function toWorkload(mesh: MeshView, workload: Workload, address: SocketAddress, service: Service | undefined): OutboundTarget {
  if (workload.protocol !== 'HBONE') {
    return { kind: 'passthrough', address, workload, ...(service ? { service } : {}) };
  }
  const expected = [mesh.identityOf(workload), ...(service?.subjectAltNames ?? [])];
  return { kind: 'hbone', address, workload, expected, ...(service ? { service } : {}) };
}

function viaService(mesh: MeshView, service: Service, dst: SocketAddress, random: () => number): OutboundTarget {
  const key = `${service.namespace}/${service.hostname}`;
  if (!service.ports.some((p) => p.port === dst.port)) {
    return { kind: 'refused', reason: 'no-healthy-upstream', message: `service ${key} has no port ${dst.port}` };
  }
  const candidates: { workload: Workload; ip: string; port: number }[] = [];
  for (const w of mesh.endpoints(key)) {
    const mapped = w.services.get(key)?.get(dst.port);
    const ip = addressLike(w, dst.ip);
    if (w.status !== 'Healthy' || mapped === undefined || ip === undefined) continue;
    candidates.push({ workload: w, ip, port: mapped === 0 ? dst.port : mapped });
  }
  if (candidates.length === 0) {
    return { kind: 'refused', reason: 'no-healthy-upstream', message: `service ${key} has no healthy endpoint for port ${dst.port}` };
  }
  const pick = candidates[Math.floor(random() * candidates.length)] ?? candidates[0]!;
  return toWorkload(mesh, pick.workload, { ip: pick.ip, port: pick.port }, service);
}

/** The endpoint address of the same family as the VIP the client dialled, else its first. */
function addressLike(w: Workload, vip: string): string | undefined {
  const v6 = vip.includes(':');
  return w.addresses.find((a) => a.includes(':') === v6) ?? w.addresses[0];
}
