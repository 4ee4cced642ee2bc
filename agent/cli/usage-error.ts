import { MeshnodeError } from '../base/errors.js';
/**
 * Bad command-line input. The CLI prints `message` (and the command's usage) and exits with
 * `exitCode` (2 unless a command documents another).
 */
export class UsageError extends MeshnodeError {
  readonly code = 'ERR_USAGE';
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}
