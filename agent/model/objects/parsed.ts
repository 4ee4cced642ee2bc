import type { DocLocation } from '../../config/problems.js';
import type { Cidr, ServicePort } from '../types.js';

/** Kubernetes and Istio networking objects as read from YAML, validated, before assembly. */

interface ParsedBase {
  readonly location: DocLocation;
  /** Line of a field path in the object's document, for problems found after parsing. */
  readonly lineOf: (path: string) => number;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ParsedNamespace extends ParsedBase {
  readonly kind: 'Namespace';
}

export interface ParsedPod extends ParsedBase {
  readonly kind: 'Pod';
  readonly uid: string | undefined;
  readonly serviceAccount: string;
  readonly node: string;
  /** Canonical, primary (status.podIP) first, without duplicates. */
  readonly addresses: readonly string[];
  readonly namedPorts: ReadonlyMap<string, number>;
  readonly hostNetwork: boolean;
  /** Ready, or not saying otherwise; pending pods and Ready=False are unhealthy. */
  readonly healthy: boolean;
  /** Phase Succeeded or Failed: the pod is gone and its IP may belong to another pod. */
  readonly terminated: boolean;
}

export interface ParsedWorkloadEntry extends ParsedBase {
  readonly kind: 'WorkloadEntry';
  /** Canonical IP. */
  readonly address: string;
  readonly serviceAccount: string;
  /** `spec.ports`: port name → number; also resolves named Service target ports. */
  readonly ports: ReadonlyMap<string, number>;
  /** From the `meshnode.io/node` annotation; '' when absent. */
  readonly node: string;
}

export interface ParsedService extends ParsedBase {
  readonly kind: 'Service';
  readonly vips: readonly string[];
  readonly ports: readonly ServicePort[];
  /** undefined (or empty) means the Service selects nothing: its endpoints are managed elsewhere. */
  readonly selector: Readonly<Record<string, string>> | undefined;
}

export interface ParsedServiceEntry extends ParsedBase {
  readonly kind: 'ServiceEntry';
  readonly hosts: readonly string[];
  readonly vips: readonly string[];
  readonly cidrVips: readonly Cidr[];
  readonly ports: readonly ServicePort[];
  readonly selector: Readonly<Record<string, string>> | undefined;
  readonly subjectAltNames: readonly string[];
}

export type ParsedWorkloadSource = ParsedPod | ParsedWorkloadEntry;
export type ParsedServiceSource = ParsedService | ParsedServiceEntry;
export type ParsedObject = ParsedNamespace | ParsedWorkloadSource | ParsedServiceSource;
