import { readDocuments, type SourceDoc } from '../config/documents.js';
import { Problems, type Problem } from '../config/problems.js';
import { ENROLL_LABEL } from './enrollment.js';
import type { ParsedNamespace, ParsedServiceSource, ParsedWorkloadSource } from './objects/parsed.js';
import { readObjects } from './objects/read-objects.js';
import { buildAuthorizations } from './security/index.js';
import { buildServices } from './services.js';
import type { MeshSettings, MeshSnapshot, Workload } from './types.js';
import { buildWorkloadDrafts } from './workloads.js';

export interface ConfigCounts {
  readonly workloads: number;
  readonly services: number;
  /** AuthorizationPolicy and PeerAuthentication objects read. */
  readonly policies: number;
}

export interface LoadResult {
  /** Present only when there is no error: a config is applied whole or not at all. */
  readonly snapshot?: MeshSnapshot;
  readonly problems: Problem[];
  /** What was read, also when there are errors (for `meshnode config validate`). */
  readonly counts: ConfigCounts;
}

/**
 * Reads a config path (file or directory) and builds a snapshot. Never throws for bad input: an
 * unreadable path is a problem like any other, so a running agent keeps its last good snapshot.
 */
export async function loadMeshConfig(path: string, settings: MeshSettings): Promise<LoadResult> {
  const problems = new Problems();
  let docs: SourceDoc[] = [];
  try {
    docs = await readDocuments(path, problems);
  } catch (err) {
    const location = { file: path, index: 0, line: 0, kind: '', namespace: '', name: '' };
    problems.error(location, '', `cannot read config: ${(err as Error).message}`);
  }
  const { snapshot, counts } = assemble(docs, settings, problems);
  return { ...(problems.errors.length === 0 ? { snapshot } : {}), problems: problems.list, counts };
}

/** The snapshot of parsed documents, or undefined when `problems` holds any error. */
export function buildMeshSnapshot(docs: SourceDoc[], settings: MeshSettings, problems: Problems): MeshSnapshot | undefined {
  const { snapshot } = assemble(docs, settings, problems);
  return problems.errors.length === 0 ? snapshot : undefined;
}

function assemble(docs: SourceDoc[], settings: MeshSettings, problems: Problems): { snapshot: MeshSnapshot; counts: ConfigCounts } {
  const { objects, security } = readObjects(docs, problems);
  const namespaces = objects.filter((o): o is ParsedNamespace => o.kind === 'Namespace');
  const ambientNamespaces = new Set(namespaces.filter((n) => n.labels[ENROLL_LABEL] === 'ambient').map((n) => n.name));
  const workloadSources = objects.filter((o): o is ParsedWorkloadSource => o.kind === 'Pod' || o.kind === 'WorkloadEntry');
  const serviceSources = objects.filter((o): o is ParsedServiceSource => o.kind === 'Service' || o.kind === 'ServiceEntry');
  const drafts = buildWorkloadDrafts(workloadSources, ambientNamespaces, settings, problems);
  const { services, endpoints } = buildServices(serviceSources, drafts, settings, problems);
  const { authorizations, policiesByWorkload } = buildAuthorizations(security, drafts, settings, problems);
  const workloads = new Map<string, Workload>();
  // `source` is dropped: the snapshot holds no references into parsed documents.
  for (const { source, ...draft } of drafts) {
    workloads.set(draft.uid, {
      ...draft,
      services: endpoints.get(draft.uid) ?? new Map(),
      authorizationPolicies: policiesByWorkload.get(draft.uid) ?? [],
    });
  }
  const snapshot: MeshSnapshot = { settings, workloads, services, authorizations, ambientNamespaces };
  return { snapshot, counts: { workloads: workloads.size, services: services.size, policies: security.length } };
}
