import { readDocuments, type SourceDoc } from '../config/documents.js';
import { Problems, type Problem } from '../config/problems.js';
import { readObjects } from './objects/read-objects.js';
import { MeshTranslator, type PendingTranslation } from './translate/translator.js';
import type { MeshSettings, MeshSnapshot } from './types.js';

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
  const docs = await readConfigDocuments(path, problems);
  const { snapshot, counts } = assemble(docs, settings, problems);
  return { ...(problems.errors.length === 0 ? { snapshot } : {}), problems: problems.list, counts };
}

/** Every document under `path`; a path that cannot be read at all is one error naming it. */
export async function readConfigDocuments(path: string, problems: Problems): Promise<SourceDoc[]> {
  try {
    return await readDocuments(path, problems);
  } catch (err) {
    const location = { file: path, index: 0, line: 0, kind: '', namespace: '', name: '' };
    problems.error(location, '', `cannot read config: ${(err as Error).message}`);
    return [];
  }
}

/** The snapshot of parsed documents, or undefined when `problems` holds any error. */
export function buildMeshSnapshot(docs: SourceDoc[], settings: MeshSettings, problems: Problems): MeshSnapshot | undefined {
  const { snapshot } = assemble(docs, settings, problems);
  return problems.errors.length === 0 ? snapshot : undefined;
}

/**
 * Parses documents into objects and runs them through a translator with an empty baseline: one
 * step from nothing to the whole config. The agent's YAML source does the same against its last
 * accepted config, so both paths translate identically.
 */
export function translateDocuments(translator: MeshTranslator, docs: readonly SourceDoc[], problems: Problems): { pending: PendingTranslation; policies: number } {
  const { objects, security } = readObjects(docs, problems);
  const pending = translator.replaceAll([...objects, ...security]);
  problems.list.push(...pending.problems);
  return { pending, policies: security.length };
}

function assemble(docs: SourceDoc[], settings: MeshSettings, problems: Problems): { snapshot: MeshSnapshot; counts: ConfigCounts } {
  const translator = new MeshTranslator(settings);
  const { pending, policies } = translateDocuments(translator, docs, problems);
  const { delta } = pending;
  const snapshot: MeshSnapshot = {
    settings,
    workloads: new Map(delta.workloads.upsert.map((w) => [w.uid, w])),
    services: new Map(delta.services.upsert.map((s) => [`${s.namespace}/${s.hostname}`, s])),
    authorizations: new Map(delta.authorizations.upsert.map((a) => [`${a.namespace}/${a.name}`, a])),
    ambientNamespaces: new Set(delta.ambientNamespaces.upsert),
  };
  return { snapshot, counts: { workloads: snapshot.workloads.size, services: snapshot.services.size, policies } };
}
