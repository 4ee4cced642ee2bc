/**
 * Istio security objects (AuthorizationPolicy, PeerAuthentication) → the model's Authorizations.
 * Called by the config loader: parse every document, then build once all workloads are known.
 */
export type {
  AuthorizationAction, MtlsMode, ParsedAuthorizationPolicy, ParsedPeerAuthentication,
  ParsedCondition, ParsedOperation, ParsedRule, ParsedSource, SecurityObject,
} from './types.js';
export { isSecurityKind, parseSecurityDoc } from './parse.js';
export { buildAuthorizations, type SecurityWorkload, type BuiltAuthorizations } from './build.js';
export { explainPeerAuthentication } from './explain.js';
