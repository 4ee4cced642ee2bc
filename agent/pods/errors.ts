import { MeshnodeError } from '../base/errors.js';
/** Why a pod registration was refused; `status` is the HTTP status the CNI API answers with. */
export type RegistrationFailure =
  | 'not-enrolled' | 'netns-missing' | 'netns-invalid' | 'netns-in-use' | 'netns-of-node' | 'listeners-failed'
  | 'deadline-passed';

const STATUS: Record<RegistrationFailure, number> = {
  'not-enrolled': 409,
  'netns-missing': 422,
  'netns-invalid': 422,
  /** Another registered pod has this namespace: listeners are never shared between pods. */
  'netns-in-use': 409,
  /** The namespace is the agent's (the node's) own: never captured, never served as a pod. */
  'netns-of-node': 422,
  'listeners-failed': 500,
  /** The plugin stopped waiting before the registration could be finished; nothing was kept. */
  'deadline-passed': 408,
};

export class PodRegistrationError extends MeshnodeError {
  readonly code = 'ERR_POD_REGISTRATION';
  readonly status: number;
  constructor(readonly failure: RegistrationFailure, message: string, cause?: unknown) {
    super(message, { cause });
    this.status = STATUS[failure];
  }
}
