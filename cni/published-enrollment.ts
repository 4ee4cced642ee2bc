import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ENROLLMENT_STATE_FILE, parseEnrollmentState } from '../agent/base/contracts/enrollment-state.js';

export interface PublishedVerdict {
  /** undefined: no usable file, so any pod may be in the mesh. */
  readonly inMesh: boolean | undefined;
  readonly reason: string;
}

/**
 * Whether a pod of `namespace` may be in the mesh according to the enrollment state the agent
 * last published beside its socket. A missing or unreadable file decides nothing.
 */
export function lastPublishedEnrollment(agentSocket: string, namespace: string): PublishedVerdict {
  const file = join(dirname(agentSocket), ENROLLMENT_STATE_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { inMesh: undefined, reason: `the agent's last published enrollment state ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  try {
    const state = parseEnrollmentState(text);
    const inMesh = state.meshNamespaces.includes(namespace);
    return {
      inMesh,
      reason: `the enrollment state the agent published at ${state.publishedAt} ${inMesh ? 'may have' : 'has no'} pods of namespace ${namespace} in the mesh`,
    };
  } catch (err) {
    return { inMesh: undefined, reason: `the agent's last published enrollment state ${file} is invalid: ${(err as Error).message}` };
  }
}
