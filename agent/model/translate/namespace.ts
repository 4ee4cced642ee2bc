import { Problems } from '../../config/problems.js';
import type { ParsedNamespace, ParsedServiceSource, ParsedWorkloadSource } from '../objects/parsed.js';
import { buildAuthorizations, type SecurityObject } from '../security/index.js';
import { buildServices } from '../services.js';
import type { Authorization, MeshSettings, Service, Workload } from '../types.js';
import { ENROLL_LABEL } from '../enrollment.js';
import { buildWorkloadDraft, type WorkloadDraft } from '../workloads.js';

/** Everything of one namespace the translation reads (plus the root namespace's security objects). */
export interface NamespaceInputs {
  namespace: ParsedNamespace | undefined;
  readonly workloads: Map<string, ParsedWorkloadSource>;
  readonly services: Map<string, ParsedServiceSource>;
  readonly security: Map<string, SecurityObject>;
}

/** What one namespace translates to; workloads keep their draft for conflict reports. */
export interface NamespaceOutputs {
  readonly ambient: boolean;
  readonly workloads: Map<string, { workload: Workload; draft: WorkloadDraft }>;
  readonly services: Map<string, Service>;
  readonly authorizations: Map<string, Authorization>;
}

export function emptyInputs(): NamespaceInputs {
  return { namespace: undefined, workloads: new Map(), services: new Map(), security: new Map() };
}

function isAmbient(inputs: NamespaceInputs): boolean {
  return inputs.namespace?.labels[ENROLL_LABEL] === 'ambient';
}

/**
 * Translates the given workload sources of one namespace against that namespace's services and
 * policies and the root namespace's policies. Called with all of a namespace's workloads when
 * something namespace-wide changed, and with only the changed ones when only pods did: a
 * workload's services and policies come from its own namespace (and the root's), so nothing
 * else needs recomputing.
 */
export function translateNamespace(
  name: string, inputs: NamespaceInputs, workloadSources: Iterable<ParsedWorkloadSource>, rootSecurity: readonly SecurityObject[],
  settings: MeshSettings, problems: Problems,
): NamespaceOutputs {
  const ambient = isAmbient(inputs);
  const ambientSet = { has: (ns: string) => ambient && ns === name };
  const drafts: WorkloadDraft[] = [];
  for (const source of workloadSources) {
    const draft = buildWorkloadDraft(source, ambientSet, settings);
    if (draft) drafts.push(draft);
  }
  const { services, endpoints } = buildServices([...inputs.services.values()], drafts, settings, problems);
  const security = name === settings.rootNamespace ? [...inputs.security.values()] : [...inputs.security.values(), ...rootSecurity];
  const { authorizations, policiesByWorkload } = buildAuthorizations(security, drafts, settings, problems);
  const workloads = new Map<string, { workload: Workload; draft: WorkloadDraft }>();
  for (const draft of drafts) {
    // `source` stays with the draft only: the state holds no references into parsed documents.
    const { source: _source, ...fields } = draft;
    const workload: Workload = {
      ...fields,
      services: endpoints.get(draft.uid) ?? new Map(),
      authorizationPolicies: policiesByWorkload.get(draft.uid) ?? [],
    };
    workloads.set(draft.uid, { workload, draft });
  }
  return { ambient, workloads, services, authorizations };
}
