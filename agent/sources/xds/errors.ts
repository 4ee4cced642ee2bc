import { MeshnodeError } from '../../base/errors.js';

/** One xDS resource cannot be used; the message is the reason sent back to istiod in the NACK. */
export class XdsResourceError extends MeshnodeError {
  readonly code = 'ERR_XDS_RESOURCE';
}

