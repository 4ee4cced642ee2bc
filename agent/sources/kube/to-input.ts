import type { SourceDoc } from '../../config/documents.js';
import { Problems, formatProblem, type DocLocation } from '../../config/problems.js';
import { readObjects } from '../../model/objects/read-objects.js';
import type { TranslatorInput } from '../../model/translate/translator.js';
import type { KubeObject, ResourceType } from './reflector.js';

export type Converted =
  | { readonly ok: true; readonly input: TranslatorInput }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * An API object → the translator's input, through the same object readers as the YAML config
 * (so `meshnode config validate` on a dump of these objects reads them identically). Warnings (fields the mesh does not
 * use, which API objects have plenty of) are dropped; errors refuse the object.
 */
export function toTranslatorInput(type: ResourceType, obj: KubeObject): Converted {
  const body = { ...obj, apiVersion: obj.apiVersion ?? '', kind: obj.kind ?? type.kind };
  const problems = new Problems();
  const { objects, security } = readObjects([sourceDoc(body)], problems);
  const input = objects[0] ?? security[0];
  const errors = problems.errors;
  if (errors.length > 0 || !input) return { ok: false, problems: errors.length > 0 ? errors.map(formatProblem) : ['not an object meshnode reads'] };
  return { ok: true, input };
}

/**
 * What stands in for a security object that fails validation and has no earlier good version:
 * ignoring it could widen access (a DENY that is not enforced, an ALLOW whose absence allows
 * all, a STRICT mode not applied), so its place is taken by the narrowest object of its kind and
 * scope: an AuthorizationPolicy denying everything in its namespace, a PeerAuthentication
 * requiring mTLS for its namespace. In the root namespace both apply mesh-wide, as the object
 * would have.
 */
export function failClosedStandIn(kind: string, obj: KubeObject): TranslatorInput | undefined {
  const metadata = { name: obj.metadata?.name ?? '', namespace: obj.metadata?.namespace ?? '' };
  const spec = kind === 'AuthorizationPolicy' ? { action: 'DENY', rules: [{}] }
    : kind === 'PeerAuthentication' ? { mtls: { mode: 'STRICT' } } : undefined;
  if (!spec) return undefined;
  const { security } = readObjects([sourceDoc({ apiVersion: 'security.istio.io/v1', kind, metadata, spec })], new Problems());
  return security[0];
}

function sourceDoc(body: Record<string, unknown> & { apiVersion: string; kind: string }): SourceDoc {
  const meta = (body.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const location: DocLocation = {
    file: 'kubernetes', index: 0, line: 0, kind: body.kind,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : '', name: typeof meta.name === 'string' ? meta.name : '',
  };
  return { location, apiVersion: body.apiVersion, kind: body.kind, body, lineOf: () => 0 };
}
