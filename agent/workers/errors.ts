import { MeshnodeError } from '../base/errors.js';
import type { WireError } from './protocol.js';

/**
 * A failure on the other side of a thread boundary: a worker could not do what it was told
 * (`remoteCode` is the original error's code), or a worker thread is gone.
 */
export class WorkerError extends MeshnodeError {
  readonly code = 'ERR_WORKER';
  constructor(message: string, readonly remoteCode?: string) {
    super(message);
  }

  static from(wire: WireError, what: string): WorkerError {
    return new WorkerError(`${what}: ${wire.message}`, wire.code);
  }
}
