import { MeshnodeError } from '../base/errors.js';

/** A query the admin API cannot answer as asked: a 400 (bad parameter, unknown workload) or a 409 (busy). */
export class AdminRequestError extends MeshnodeError {
  readonly code = 'ERR_ADMIN_REQUEST';
  constructor(message: string, readonly status: 400 | 409 = 400) {
    super(message);
  }
}
