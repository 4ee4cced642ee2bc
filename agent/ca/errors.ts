import { status } from '@grpc/grpc-js';
import { MeshnodeError } from '../base/errors.js';
import type { RefusalReason } from '../../metrics/ca.js';

/**
 * A refused CreateCertificate call. The caller sees only `grpcCode` and `publicMessage`; `reason`
 * is the exact cause, written to the CA log (for authentication failures the two differ on
 * purpose, as istiod's do: a caller probing tokens or grants learns nothing); `refusal` is its
 * class, the metric label.
 */
export class CaRequestError extends MeshnodeError {
  readonly code = 'ERR_CA_REQUEST';
  constructor(readonly grpcCode: status, readonly publicMessage: string, readonly reason: string, readonly refusal: RefusalReason) {
    super(reason);
  }
}

export function unauthenticated(reason: string, refusal: RefusalReason): CaRequestError {
  return new CaRequestError(status.UNAUTHENTICATED, 'request authenticate failure', reason, refusal);
}

export function impersonationRefused(reason: string, refusal: RefusalReason): CaRequestError {
  return new CaRequestError(status.UNAUTHENTICATED, 'request impersonation authentication failure', reason, refusal);
}

/**
 * The Kubernetes API could not answer: the caller learns only that it may retry, and its agent
 * counts a CA outage rather than bad credentials.
 */
export function reviewUnavailable(reason: string): CaRequestError {
  return new CaRequestError(status.UNAVAILABLE, 'request authenticate failure (try again)', reason, 'review-unavailable');
}

/** The caller's own request is wrong: it gets the reason, worded like istiod's CSR errors. */
export function invalidArgument(reason: string): CaRequestError {
  return new CaRequestError(status.INVALID_ARGUMENT, `CSR signing error (${reason})`, reason, 'invalid-request');
}

/** The identity is revoked at this CA until `meshnode ca unrevoke --identity`. */
export function identityRevoked(identity: string): CaRequestError {
  return new CaRequestError(status.PERMISSION_DENIED, `identity ${identity} is revoked`, `identity ${identity} is revoked`, 'identity-revoked');
}

export function internal(reason: string): CaRequestError {
  return new CaRequestError(status.INTERNAL, `CSR signing error (${reason})`, reason, 'internal');
}

/** Key material in the CA directory is missing, partial or inconsistent; fatal at start-up. */
export class CaKeyMaterialError extends MeshnodeError {
  readonly code = 'ERR_CA_KEY_MATERIAL';
  constructor(message: string) {
    super(message);
  }
}
