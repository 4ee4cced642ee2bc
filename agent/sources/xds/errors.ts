import { MeshnodeError } from '../../base/errors.js';

/** One xDS resource cannot be used; the message is the reason sent back to istiod in the NACK. */
export class XdsResourceError extends MeshnodeError {
  readonly code = 'ERR_XDS_RESOURCE';
}

/** The xDS stream could not be (re)started: the token or root file is unreadable. */
export class XdsConnectError extends MeshnodeError {
  readonly code = 'ERR_XDS_CONNECT';
}
