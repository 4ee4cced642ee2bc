import type { Problems } from '../../config/problems.js';
import type { Authorization, MeshSettings } from '../types.js';
import type { SecurityObject } from './types.js';

/** The parts of a workload that policy attachment looks at. */
export interface SecurityWorkload {
  readonly uid: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface BuiltAuthorizations {
  /** Keyed `ns/name`. */
  readonly authorizations: Map<string, Authorization>;
  /** Workload uid → selector-scoped and PeerAuthentication-converted policy keys. */
  readonly policiesByWorkload: Map<string, string[]>;
}

export function buildAuthorizations(
  objects: readonly SecurityObject[],
  workloads: readonly SecurityWorkload[],
  settings: MeshSettings,
  problems: Problems,
): BuiltAuthorizations {
  void objects; void workloads; void settings; void problems;
  return { authorizations: new Map(), policiesByWorkload: new Map() };
}
