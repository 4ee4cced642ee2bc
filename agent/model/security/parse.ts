import type { SourceDoc } from '../../config/documents.js';
import type { Problems } from '../../config/problems.js';
import { FieldReader } from './fields.js';
import { readObjectMeta } from './metadata.js';
import { parseAuthorizationPolicy } from './parse-authorization-policy.js';
import { parsePeerAuthentication } from './parse-peer-authentication.js';
import type { SecurityObject } from './types.js';

export const API_VERSIONS: ReadonlySet<string> = new Set(['security.istio.io/v1', 'security.istio.io/v1beta1']);
export const KINDS: ReadonlySet<string> = new Set(['AuthorizationPolicy', 'PeerAuthentication']);

export function isSecurityKind(apiVersion: string, kind: string): boolean {
  return API_VERSIONS.has(apiVersion) && KINDS.has(kind);
}

/**
 * Validates one security document, reporting every problem with its field path (unknown fields
 * are errors). Returns undefined when the object cannot be used at all; the caller must still
 * treat any reported error as fatal for the whole config.
 */
export function parseSecurityDoc(doc: SourceDoc, problems: Problems): SecurityObject | undefined {
  const reader = new FieldReader(doc, problems);
  const meta = readObjectMeta(reader);
  if (!meta) return undefined;
  return doc.kind === 'AuthorizationPolicy' ? parseAuthorizationPolicy(reader, meta) : parsePeerAuthentication(reader, meta);
}
