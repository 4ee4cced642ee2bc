import type { MeshSnapshot, Workload } from '../model/types.js';
import type { HostCaptureSpec } from '../hostnet/index.js';

/** `meshnode agent --host-mode` capture flags; an omitted list takes its default from the mesh. */
export interface HostModeOptions {
  /** Explicit inbound ports or `*`; default: the ports of the WorkloadEntries on this node. */
  readonly inboundPorts?: readonly number[] | '*';
  readonly excludeInboundPorts: readonly number[];
  /** Explicit CIDRs or `*`; default: the addresses of mesh workloads and services elsewhere. */
  readonly outboundCidrs?: readonly string[] | '*';
  readonly excludeOutboundCidrs: readonly string[];
}

/** The ports a WorkloadEntry serves: its named ports and the target ports of its services. */
function workloadPorts(w: Workload): number[] {
  const ports = [...w.namedPorts.values()];
  for (const map of w.services.values()) for (const [port, target] of map) ports.push(target === 0 ? port : target);
  return ports;
}

const served = (w: Workload, node: string) => w.kind === 'WorkloadEntry' && w.node === node && w.protocol === 'HBONE';

/**
 * The capture spec for this node from the flags and the current mesh. Defaults are narrow: only
 * the ports of the node's own mesh WorkloadEntries are captured inbound, and only destinations
 * that are mesh workloads (enrolled, not on this node) or service addresses outbound, so traffic
 * to the rest of the world leaves the host untouched.
 */
export function hostCaptureSpec(node: string, options: HostModeOptions, mesh: MeshSnapshot,
  agent: { uid: number; ports: readonly number[] }): HostCaptureSpec {
  const local = [...mesh.workloads.values()].filter((w) => served(w, node));
  const inbound = options.inboundPorts ?? [...new Set(local.flatMap(workloadPorts))].sort((a, b) => a - b);
  let outbound = options.outboundCidrs;
  if (outbound === undefined) {
    const addresses = new Set<string>();
    for (const w of mesh.workloads.values()) if (w.protocol === 'HBONE' && !served(w, node)) for (const a of w.addresses) addresses.add(a);
    for (const s of mesh.services.values()) {
      for (const vip of s.vips) addresses.add(vip);
      for (const c of s.cidrVips ?? []) addresses.add(`${c.address}/${c.prefixLength}`);
    }
    outbound = [...addresses].sort();
  }
  return {
    agentUid: agent.uid, agentPorts: agent.ports,
    inboundPorts: inbound, excludeInboundPorts: options.excludeInboundPorts,
    outbound, excludeOutbound: options.excludeOutboundCidrs,
  };
}
