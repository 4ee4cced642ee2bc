import { MeshnodeError } from '../base/errors.js';
/**
 * Why a certificate could not be obtained. `reason` is a closed set: it labels the
 * `meshnode_identity_csr_failures_total` metric and the `lastError` of `GET /certs`.
 */
export type IdentityFailureReason =
  | 'ca_unavailable' // transport failure, CA down, deadline exceeded
  | 'unauthenticated' // the CA refused our credentials
  | 'rejected' // the CA refused the request (invalid argument, permission, internal)
  | 'token' // the token file is missing, unreadable or empty
  | 'empty_chain' // fewer than [leaf, root]
  | 'malformed' // unparseable certificate in the response
  | 'wrong_identity' // leaf SAN differs from the identity asked for
  | 'key_mismatch' // leaf public key is not ours
  | 'untrusted_chain' // chain does not verify to the trust bundle
  | 'bad_validity' // expired, not yet valid, or inverted validity
  | 'revoked' // the certificate obtained is already revoked by a CRL in force
  | 'trust_bundle'; // the trust bundle or CA root file cannot be read

export class IdentityError extends MeshnodeError {
  readonly code = 'ERR_IDENTITY';
  constructor(readonly reason: IdentityFailureReason, message: string) {
    super(message);
  }
}
