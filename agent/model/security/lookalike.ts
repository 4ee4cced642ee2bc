import { editDistance } from '../../config/field-reader.js';
import { API_VERSIONS, KINDS } from './parse.js';

const GROUP = 'security.istio.io';
/** Istio's L7 request authentication (JWT): a waypoint enforces it, never the node agent. */
export const REQUEST_AUTHENTICATION = 'RequestAuthentication';
const ALL_KINDS = [...KINDS, REQUEST_AUTHENTICATION];

export interface Lookalike {
  readonly path: 'apiVersion' | 'kind';
  readonly message: string;
}

/**
 * Why a document that is not a security object meshnode reads still looks like one, or undefined
 * when it does not. Skipping such a document with a warning fails open — a deny-all written as
 * `security.istio.io/v1beta` or `AuthorisationPolicy` would allow everything — so the caller makes
 * it an error. Called only for documents that `isSecurityKind` refused.
 */
export function securityLookalike(apiVersion: string, kind: string): Lookalike | undefined {
  const expectedVersions = [...API_VERSIONS].join(' or ');
  const known = ALL_KINDS.find((k) => k === kind);
  if (known) {
    return { path: 'apiVersion', message: `"${apiVersion}" is not a version of ${known} meshnode reads; expected ${expectedVersions}` };
  }
  const similar = ALL_KINDS.find((k) => resembles(kind, k));
  if (similar) {
    return { path: 'kind', message: `"${kind}" is not a kind meshnode reads; did you mean "${similar}"? (security kinds: ${ALL_KINDS.join(', ')})` };
  }
  if (inSecurityGroup(apiVersion)) {
    return { path: 'kind', message: `"${kind}" is not a kind of ${GROUP}; expected one of ${ALL_KINDS.join(', ')} with apiVersion ${expectedVersions}` };
  }
  return undefined;
}

/** RequestAuthentication exactly as Istio spells it: read by waypoints, skipped here with a warning. */
export function isRequestAuthentication(apiVersion: string, kind: string): boolean {
  return kind === REQUEST_AUTHENTICATION && API_VERSIONS.has(apiVersion);
}

/** Words that, together, name each kind in the usual abbreviations (`AuthzPolicy`, `PeerAuthn`). */
const STEMS: Record<string, readonly [string, string]> = {
  AuthorizationPolicy: ['auth', 'polic'], PeerAuthentication: ['peer', 'auth'], RequestAuthentication: ['request', 'auth'],
};

/** Any case, plurals, a few typos (`AuthorisationPolicy`, `PeerAuthentications`) or an abbreviation. */
function resembles(kind: string, target: string): boolean {
  const a = kind.toLowerCase().replace(/[^a-z]/g, '');
  const [first, second] = STEMS[target]!;
  return editDistance(a, target.toLowerCase()) <= 3 || (a.includes(first) && a.includes(second));
}

/** The group, also misspelt (`Security.istio.io`, `security.istoi.io`), whatever the version says. */
function inSecurityGroup(apiVersion: string): boolean {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')).toLowerCase() : '';
  return group !== '' && editDistance(group, GROUP) <= 2;
}
