import type { MeshSnapshot } from '../model/types.js';
import { compareText } from '../base/text.js';

export interface ConfigDumpInput {
  readonly snapshot: MeshSnapshot;
  /** Registered pods (the CNI's view), keyed into `workloadState`. */
  readonly pods: readonly { uid: string; namespace: string; name: string; ips: readonly string[]; netns: string }[];
  readonly certificates: readonly unknown[];
  /** Where the state comes from and whether each source is in sync. */
  readonly sources: readonly unknown[];
  /** The CRLs in force, per source (`--crl` file, the CA's push): counts, load time, last error. */
  readonly revocations: readonly unknown[];
  /** The effective agent configuration (flags), secrets excluded. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly version: string;
  readonly configLoadedAt: Date;
}

/** JSON.stringify replacer: the model uses Maps and Sets, which JSON would print as `{}`. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value].sort();
  return value;
}

const byKey = <T>(key: (v: T) => string) => (a: T, b: T) => compareText(key(a), key(b));

/**
 * `/config_dump`: the mesh as this agent sees it, with ztunnel's top-level keys where they apply
 * (`workloads` sorted by uid, `services` by hostname, `policies`, `certificates`,
 * `workloadState`, `config`, `version`), so tooling reading ztunnel's dump finds its way.
 */
export function buildConfigDump(input: ConfigDumpInput): Record<string, unknown> {
  const { snapshot } = input;
  const workloadState: Record<string, unknown> = {};
  for (const pod of input.pods) {
    workloadState[pod.uid] = { state: 'Up', info: { name: pod.name, namespace: pod.namespace }, ips: pod.ips, netns: pod.netns };
  }
  return {
    workloads: [...snapshot.workloads.values()].sort(byKey((w) => w.uid)),
    services: [...snapshot.services.values()].sort(byKey((s) => s.hostname)),
    policies: [...snapshot.authorizations.values()].sort(byKey((p) => `${p.namespace}/${p.name}`)),
    ambientNamespaces: snapshot.ambientNamespaces,
    settings: snapshot.settings,
    certificates: input.certificates,
    sources: input.sources,
    revocations: input.revocations,
    workloadState,
    config: input.config,
    configLoadedAt: input.configLoadedAt.toISOString(),
    version: { version: input.version, runtime: `node ${process.version}` },
  };
}
