/**
 * The mesh model: one in-memory picture of the mesh with the concepts of Istio's workload API
 * (istio.workload.Workload / Service, istio.security.Authorization). Every config source — the
 * local YAML reader, and later istiod xDS and the Kubernetes API — produces this shape, and everything
 * downstream (identity, proxy, authz) reads only this shape.
 *
 * All IP strings in the model are canonical: IPv4 dotted quad (IPv4-mapped IPv6 is unmapped) or
 * compressed lower-case IPv6, as produced by `canonicalIp()` in ./ip.ts.
 */

/** How a workload's inbound traffic must be carried (istio.workload.TunnelProtocol). */
export type TunnelProtocol = 'HBONE' | 'TCP';

export type WorkloadStatus = 'Healthy' | 'Unhealthy';

/** servicePort → targetPort for one service a workload backs (istio.workload.PortList). */
export type PortMap = ReadonlyMap<number, number>;

export interface Workload {
  /**
   * Stable key as istiod builds it: `<cluster>//Pod/<ns>/<name>` (the core group is empty) or
   * `<cluster>/networking.istio.io/WorkloadEntry/<ns>/<name>`.
   */
  readonly uid: string;
  readonly kind: 'Pod' | 'WorkloadEntry';
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly trustDomain: string;
  /** Canonical IPs; the first is the primary address. May be empty for a pending pod. */
  readonly addresses: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** Node the workload runs on ('' when unknown). */
  readonly node: string;
  /** HBONE when the workload is enrolled in the mesh (ambient), TCP otherwise. */
  readonly protocol: TunnelProtocol;
  readonly status: WorkloadStatus;
  /** Services this workload is an endpoint of: key `ns/hostname`. */
  readonly services: ReadonlyMap<string, PortMap>;
  /** Named container ports (name → number), used to resolve Service `targetPort` names. */
  readonly namedPorts: ReadonlyMap<string, number>;
  /** Selector-scoped Authorization keys (`ns/name`) that apply to this workload. */
  readonly authorizationPolicies: readonly string[];
  /** The Pod's `metadata.uid` when the config has one (the CNI plugin knows pods by it). */
  readonly podUid?: string;
  /** istio.workload.NetworkMode: host-network pods share the node's IP and are never captured. */
  readonly networkMode?: NetworkMode;
  /** Telemetry names as istiod sent them (xDS); absent ones are derived (model/telemetry.ts). */
  readonly telemetry?: Partial<{ canonicalName: string; canonicalRevision: string; workloadName: string; cluster: string }>;
}

export type NetworkMode = 'Standard' | 'HostNetwork';

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  /** Numeric target port, or a port name resolved per endpoint; 0 = same as `port`. */
  readonly targetPort: number | string;
  readonly protocol: string;
}

export interface Service {
  readonly kind: 'Service' | 'ServiceEntry';
  readonly name: string;
  readonly namespace: string;
  /** `<name>.<ns>.svc.<domain>` for Services; one of the hosts for ServiceEntries (one Service per host, as istiod does). */
  readonly hostname: string;
  /** Canonical virtual IPs (clusterIPs, ServiceEntry addresses). */
  readonly vips: readonly string[];
  /** ServiceEntry `addresses` given as CIDRs shorter than a single address. */
  readonly cidrVips?: readonly Cidr[];
  readonly ports: readonly ServicePort[];
  /** Extra identities acceptable for this service's endpoints (secure naming). */
  readonly subjectAltNames: readonly string[];
}

/** istio.security.StringMatch */
export type StringMatch =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'suffix'; readonly value: string }
  | { readonly kind: 'presence' };

/** istio.security.Address: a CIDR; `prefixLength` is the full length for a single address. */
export interface Cidr {
  readonly address: string;
  readonly prefixLength: number;
}

export interface ServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** istio.security.Match: every non-empty field category must hold. */
export interface Match {
  readonly namespaces: readonly StringMatch[];
  readonly notNamespaces: readonly StringMatch[];
  readonly principals: readonly StringMatch[];
  readonly notPrincipals: readonly StringMatch[];
  readonly sourceIps: readonly Cidr[];
  readonly notSourceIps: readonly Cidr[];
  readonly destinationIps: readonly Cidr[];
  readonly notDestinationIps: readonly Cidr[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
  readonly serviceAccounts: readonly ServiceAccountMatch[];
  readonly notServiceAccounts: readonly ServiceAccountMatch[];
  /** Extended-API `trustDomains`, matched on the identity's trust domain. */
  readonly trustDomains?: readonly StringMatch[];
  readonly notTrustDomains?: readonly StringMatch[];
}

/** A clause matches when any of its matches does. */
export interface Clause {
  readonly matches: readonly Match[];
}

/** A rule matches when all of its clauses do. */
export interface Rule {
  readonly clauses: readonly Clause[];
}

export type AuthorizationScope = 'Global' | 'Namespace' | 'WorkloadSelector';
export type AuthorizationAction = 'Allow' | 'Deny';

/** Where an Authorization came from, for "why was this denied" answers. */
export type AuthorizationOrigin = 'AuthorizationPolicy' | 'PeerAuthentication';

/** istio.security.Authorization: a policy matches when any of its rules does. */
export interface Authorization {
  readonly name: string;
  readonly namespace: string;
  readonly scope: AuthorizationScope;
  readonly action: AuthorizationAction;
  readonly rules: readonly Rule[];
  readonly dryRun: boolean;
  readonly origin: AuthorizationOrigin;
}

export interface MeshSettings {
  readonly trustDomain: string;
  readonly rootNamespace: string;
  /** Kubernetes DNS suffix for Service hostnames; `cluster.local` when absent. */
  readonly domainSuffix?: string;
}

/**
 * An immutable snapshot of the whole mesh. A new config produces a new snapshot; consumers swap
 * the reference atomically, so a half-applied config is never visible.
 */
export interface MeshSnapshot {
  readonly settings: MeshSettings;
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly services: ReadonlyMap<string, Service>;
  /** Keyed `ns/name`. */
  readonly authorizations: ReadonlyMap<string, Authorization>;
  /** Namespaces whose label `istio.io/dataplane-mode` is `ambient`. */
  readonly ambientNamespaces: ReadonlySet<string>;
}
