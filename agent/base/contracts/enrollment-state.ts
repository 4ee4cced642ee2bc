import { MeshnodeError } from '../errors.js';

/**
 * The last enrollment state the agent published, for `meshnode-cni` to answer from while the agent
 * is down: a JSON file beside the agent's CNI socket, replaced atomically whenever it changes.
 * It names every namespace in which a pod may be in the mesh — ambient namespaces and namespaces
 * with a pod enrolled by its own label; a pod of any other namespace is outside the mesh.
 */
export const ENROLLMENT_STATE_FILE = 'enrollment.json';
export const ENROLLMENT_STATE_VERSION = 1;

export interface EnrollmentState {
  readonly version: typeof ENROLLMENT_STATE_VERSION;
  /** The node of the agent that wrote it, for people reading the file. */
  readonly node: string;
  readonly publishedAt: string;
  /** Sorted. */
  readonly meshNamespaces: readonly string[];
}

export class EnrollmentStateError extends MeshnodeError {
  readonly code = 'ERR_ENROLLMENT_STATE';
}

/** Reads the file's text; throws EnrollmentStateError naming what is wrong. */
export function parseEnrollmentState(text: string): EnrollmentState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new EnrollmentStateError(`not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new EnrollmentStateError('must be a JSON object');
  const o = doc as Record<string, unknown>;
  if (o.version !== ENROLLMENT_STATE_VERSION) throw new EnrollmentStateError(`"version" must be ${ENROLLMENT_STATE_VERSION}, got ${JSON.stringify(o.version)}`);
  if (typeof o.node !== 'string' || o.node === '') throw new EnrollmentStateError('"node" must be a non-empty string');
  if (typeof o.publishedAt !== 'string') throw new EnrollmentStateError('"publishedAt" must be a string');
  const list = o.meshNamespaces;
  if (!Array.isArray(list) || !list.every((n) => typeof n === 'string' && n !== '')) {
    throw new EnrollmentStateError('"meshNamespaces" must be a list of namespace names');
  }
  return { version: ENROLLMENT_STATE_VERSION, node: o.node, publishedAt: o.publishedAt, meshNamespaces: list as string[] };
}
