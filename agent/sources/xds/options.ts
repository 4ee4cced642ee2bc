/**
 * The xDS source's options, apart from the source itself: the command line reads them without
 * loading gRPC, which only an agent pointed at istiod needs.
 */

/** Where istiod is and how to authenticate to it. */
export interface XdsConnection {
  /** HOST:PORT of istiod's xDS (15012 TLS, 15010 plaintext). */
  readonly address: string;
  /** Name verified against istiod's certificate; istiod's SANs carry `.svc`, not `.svc.cluster.local`. */
  readonly serverName: string;
  readonly rootFile: string;
  readonly tokenFile: string | undefined;
  readonly plaintext: boolean;
}

/** The agent's xDS flags: the connection plus this agent's own pod (POD_NAME, POD_NAMESPACE, INSTANCE_IP). */
export interface XdsAgentOptions extends XdsConnection {
  readonly podName: string;
  readonly podNamespace: string;
  readonly instanceIp: string;
  /** Sent as ISTIO_VERSION: istiod gates features on the version a client claims. */
  readonly istioVersion?: string;
}

/** The Istio release whose workload API meshnode implements. */
export const DEFAULT_ISTIO_VERSION = '1.28.0';
