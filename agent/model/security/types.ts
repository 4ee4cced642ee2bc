import type { DocLocation } from '../../config/problems.js';

/**
 * Security objects as read from YAML, validated but not yet translated. Lists are never
 * undefined: an absent list and `[]` mean the same thing, as in the Kubernetes API.
 */

export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';
export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

export interface ParsedSource {
  readonly principals: readonly string[];
  readonly notPrincipals: readonly string[];
  readonly requestPrincipals: readonly string[];
  readonly notRequestPrincipals: readonly string[];
  readonly namespaces: readonly string[];
  readonly notNamespaces: readonly string[];
  readonly ipBlocks: readonly string[];
  readonly notIpBlocks: readonly string[];
  readonly remoteIpBlocks: readonly string[];
  readonly notRemoteIpBlocks: readonly string[];
  readonly serviceAccounts: readonly string[];
  readonly notServiceAccounts: readonly string[];
  readonly trustDomains: readonly string[];
  readonly notTrustDomains: readonly string[];
}

export interface ParsedOperation {
  readonly hosts: readonly string[];
  readonly notHosts: readonly string[];
  readonly ports: readonly number[];
  readonly notPorts: readonly number[];
  readonly methods: readonly string[];
  readonly notMethods: readonly string[];
  readonly paths: readonly string[];
  readonly notPaths: readonly string[];
}

export interface ParsedCondition {
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
}

export interface ParsedRule {
  /** One entry per `from[j]`; undefined source (missing or `{}`) is kept as undefined. */
  readonly from: readonly (ParsedSource | undefined)[];
  readonly to: readonly (ParsedOperation | undefined)[];
  readonly when: readonly ParsedCondition[];
}

interface ParsedObjectBase {
  readonly location: DocLocation;
  readonly namespace: string;
  readonly name: string;
  /** metadata.creationTimestamp in ms since the epoch; undefined when absent. */
  readonly creationTimestamp: number | undefined;
  /** `selector.matchLabels`; undefined when `selector` is absent, `{}` when present but empty. */
  readonly selector: Readonly<Record<string, string>> | undefined;
}

export interface ParsedAuthorizationPolicy extends ParsedObjectBase {
  readonly kind: 'AuthorizationPolicy';
  readonly action: AuthorizationAction;
  readonly provider: string | undefined;
  /** `targetRef` or `targetRefs` is set: the policy is for waypoints/gateways, never for ztunnel. */
  readonly hasTargetRef: boolean;
  /** `istio.io/dry-run` parsed with Go ParseBool semantics, as istiod reads it. */
  readonly dryRun: boolean;
  readonly rules: readonly ParsedRule[];
}

export interface ParsedPeerAuthentication extends ParsedObjectBase {
  readonly kind: 'PeerAuthentication';
  /** `mtls.mode`; UNSET when `mtls` or `mode` is absent. */
  readonly mode: MtlsMode;
  /** `portLevelMtls`: workload port → mode. */
  readonly portLevelMtls: ReadonlyMap<number, MtlsMode>;
}

export type SecurityObject = ParsedAuthorizationPolicy | ParsedPeerAuthentication;
