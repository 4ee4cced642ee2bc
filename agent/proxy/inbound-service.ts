import type { Service, Workload } from '../model/types.js';
import type { MeshView } from '../state/types.js';

/**
 * The service an inbound connection is attributed to in its telemetry (ztunnel's
 * `guess_inbound_service`): the one the client's agent named in the `forwarded` header's
 * `host=`, when the destination workload backs it — a client cannot make up another — else the
 * first service (by key) the workload backs on the connection's port. Attribution only: nothing
 * is decided by it.
 */
export function inboundService(mesh: MeshView, workload: Workload, forwarded: string | string[] | undefined, port: number): Service | undefined {
  const host = /(?:^|;)\s*host="?([^";,\s]+)"?/i.exec(Array.isArray(forwarded) ? forwarded[0] ?? '' : forwarded ?? '')?.[1];
  if (host !== undefined) {
    for (const key of workload.services.keys()) if (key.endsWith(`/${host}`)) return mesh.service(key);
  }
  for (const key of [...workload.services.keys()].sort()) {
    for (const target of workload.services.get(key)!.values()) if (target === port) return mesh.service(key);
  }
  return undefined;
}
