import type { SourceDoc } from '../../config/documents.js';
import type { Problems } from '../../config/problems.js';
import type { SecurityObject } from './types.js';

const API_VERSIONS = new Set(['security.istio.io/v1', 'security.istio.io/v1beta1']);
const KINDS = new Set(['AuthorizationPolicy', 'PeerAuthentication']);

export function isSecurityKind(apiVersion: string, kind: string): boolean {
  return API_VERSIONS.has(apiVersion) && KINDS.has(kind);
}

/** Validates one security document, reporting every problem with its field path. */
export function parseSecurityDoc(doc: SourceDoc, problems: Problems): SecurityObject | undefined {
  problems.error(doc.location, '', `parsing ${doc.kind} is being implemented`);
  return undefined;
}
