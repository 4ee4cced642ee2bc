import { stringify } from 'yaml';
import { parseFile } from '../../agent/config/documents.js';
import { Problems, formatProblem, type Problem } from '../../agent/config/problems.js';
import { buildMeshSnapshot } from '../../agent/model/load.js';
import { StateStore } from '../../agent/state/store.js';
import type { MeshSettings, MeshSnapshot, Workload } from '../../agent/model/types.js';

export const SETTINGS: MeshSettings = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

export interface Loaded {
  readonly snapshot: MeshSnapshot | undefined;
  readonly problems: Problem[];
  readonly errors: string[];
  readonly warnings: string[];
}

/** Builds a snapshot from YAML text as if it were the file `file`. */
export function loadYaml(text: string, settings: MeshSettings = SETTINGS, file = 'mesh.yaml'): Loaded {
  const problems = new Problems();
  const snapshot = buildMeshSnapshot(parseFile(file, text, problems), settings, problems);
  return {
    snapshot, problems: problems.list,
    errors: problems.errors.map(formatProblem), warnings: problems.warnings.map(formatProblem),
  };
}

/** The snapshot of a config that must be valid; throws with every problem otherwise. */
export function validSnapshot(text: string, settings: MeshSettings = SETTINGS): MeshSnapshot {
  const { snapshot, errors } = loadYaml(text, settings);
  if (!snapshot) throw new Error(`config unexpectedly invalid:\n${errors.join('\n')}`);
  return snapshot;
}

export function validIndex(text: string, settings: MeshSettings = SETTINGS): StateStore {
  return StateStore.fromSnapshot(validSnapshot(text, settings));
}

export function workloadNamed(snapshot: MeshSnapshot, namespace: string, name: string): Workload | undefined {
  return [...snapshot.workloads.values()].find((w) => w.namespace === namespace && w.name === name);
}

/** A minimal Pod document. */
export function pod(name: string, opts: {
  namespace?: string; ip?: string; ips?: string[]; labels?: Record<string, string>; node?: string; sa?: string;
  ports?: Record<string, number>; hostNetwork?: boolean; uid?: string; phase?: string;
} = {}): string {
  const ports = Object.entries(opts.ports ?? {}).map(([portName, containerPort]) => ({ name: portName, containerPort }));
  return stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: opts.namespace ?? 'default', labels: opts.labels ?? {}, ...(opts.uid ? { uid: opts.uid } : {}) },
    spec: {
      ...(opts.sa ? { serviceAccountName: opts.sa } : {}), nodeName: opts.node ?? 'node-a',
      ...(opts.hostNetwork ? { hostNetwork: true } : {}), containers: [{ name: 'main', image: 'example/app:1', ports }],
    },
    status: {
      ...(opts.phase ? { phase: opts.phase } : {}), ...(opts.ip ? { podIP: opts.ip } : {}),
      ...(opts.ips ? { podIPs: opts.ips.map((ip) => ({ ip })) } : {}),
    },
  });
}

export function namespace(name: string, labels: Record<string, string> = {}): string {
  return stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

export function service(name: string, opts: {
  namespace?: string; clusterIP?: string; selector?: Record<string, string>;
  ports?: { name?: string; port: number; targetPort?: number | string }[];
} = {}): string {
  return stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: opts.namespace ?? 'default' },
    spec: { ...(opts.clusterIP ? { clusterIP: opts.clusterIP } : {}), ...(opts.selector ? { selector: opts.selector } : {}), ports: opts.ports ?? [] },
  });
}

export function docs(...parts: string[]): string {
  return parts.join('---\n');
}
