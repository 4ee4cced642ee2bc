/**
 * Ports and packet marks the agent and `meshnode-cni` must agree on: the plugin's rules send
 * traffic to these ports and exempt packets carrying the mark; the agent listens on the ports and
 * marks its own sockets. One definition, read by both programs.
 */

/** Listeners inside every enrolled pod's network namespace. */
export const POD_PORTS = {
  /** The pod's outbound TCP, redirected here. */
  outbound: 15001,
  /** Inbound plaintext TCP to the pod, redirected here. */
  inboundPlaintext: 15006,
  /** Inbound HBONE (mTLS HTTP/2 CONNECT) from peers. */
  inboundHbone: 15008,
} as const;

export const POD_PORT_LIST: readonly number[] = [POD_PORTS.outbound, POD_PORTS.inboundPlaintext, POD_PORTS.inboundHbone];
/** A destination on one of these is a loop back into the data plane, never an application. */
export const POD_PORT_SET: ReadonlySet<number> = new Set(POD_PORT_LIST);

/** The HBONE port peers dial on a destination pod. */
export const HBONE_PORT = POD_PORTS.inboundHbone;

/** Set on every socket the agent makes in a pod's namespace; the capture rules let it pass. */
export const MESH_MARK = 0x539;
/** The bits of the mark the capture rules look at. */
export const MESH_MARK_MASK = 0xfff;
