import type { Problem } from '../../config/problems.js';
import type { MeshSettings } from '../../model/types.js';
import type { TranslationDelta } from '../../model/translate/translator.js';

/** `workerData` of the YAML translation worker. */
export interface WorkerSetup {
  readonly path: string;
  readonly settings: MeshSettings;
  /** The config the source serves now (from an earlier worker) has resources. */
  readonly hadConfig: boolean;
}

/** Main → worker: read and translate the config; `id` pairs the answer. */
export interface LoadRequest {
  readonly id: number;
}

export interface LoadCounts {
  readonly workloads: number;
  readonly services: number;
  readonly policies: number;
}

/**
 * Worker → main. `accepted`: the delta against the previous accepted config (the first answer
 * of a worker is against nothing, so the main side applies it as a replacement). `rejected`:
 * the worker's baseline is unchanged.
 */
export type LoadAnswer =
  | { readonly id: number; readonly result: 'accepted'; readonly delta: TranslationDelta; readonly problems: Problem[]; readonly counts: LoadCounts; readonly full: boolean; readonly recomputed: { namespaces: number; whole: number; workloads: number } }
  | { readonly id: number; readonly result: 'rejected'; readonly problems: Problem[] }
  | { readonly id: number; readonly result: 'empty' }
  | { readonly id: number; readonly result: 'failed'; readonly error: string };
