import type { SourceDoc } from '../../config/documents.js';
import { placeOf, type DocLocation, type Problems } from '../../config/problems.js';
import { isSecurityKind, parseSecurityDoc, type SecurityObject } from '../security/index.js';
import { isRequestAuthentication, securityLookalike } from '../security/lookalike.js';
import { expandLists } from './lists.js';
import { parseNamespace } from './namespace.js';
import type { ParsedObject } from './parsed.js';
import { parsePod } from './pod.js';
import { ObjectReader } from './reader.js';
import { parseServiceEntry } from './service-entry.js';
import { parseService } from './service.js';
import { parseWorkloadEntry } from './workload-entry.js';

const NETWORKING = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];

const PARSERS: Record<string, { apiVersions: readonly string[]; parse: (r: ObjectReader) => ParsedObject | undefined }> = {
  Namespace: { apiVersions: ['v1'], parse: parseNamespace },
  Pod: { apiVersions: ['v1'], parse: parsePod },
  Service: { apiVersions: ['v1'], parse: parseService },
  WorkloadEntry: { apiVersions: NETWORKING, parse: parseWorkloadEntry },
  ServiceEntry: { apiVersions: NETWORKING, parse: parseServiceEntry },
};

export interface ReadObjects {
  readonly objects: ParsedObject[];
  readonly security: SecurityObject[];
}

/**
 * Every document parsed by the reader for its kind; security kinds go to the security
 * translator. Unknown kinds are skipped with a warning, except what looks like a security object
 * meshnode does not read exactly, which is an error. A second object with the same kind,
 * namespace and name is an error naming both places, and is dropped.
 */
export function readObjects(docs: readonly SourceDoc[], problems: Problems): ReadObjects {
  const out: ReadObjects = { objects: [], security: [] };
  const seen = new Map<string, DocLocation>();
  for (const doc of expandLists(docs, problems)) {
    const parsed = parseOne(doc, problems);
    if (!parsed) continue;
    const key = `${parsed.location.kind}/${parsed.namespace}/${parsed.name}`;
    const first = seen.get(key);
    if (first) {
      problems.error({ ...parsed.location, line: doc.lineOf('metadata.name') }, 'metadata.name',
        `duplicate ${parsed.location.kind} ${parsed.namespace ? parsed.namespace + '/' : ''}${parsed.name}: also defined at ${placeOf(first)}`);
      continue;
    }
    seen.set(key, parsed.location);
    if (isSecurity(parsed)) out.security.push(parsed);
    else out.objects.push(parsed);
  }
  return out;
}

function parseOne(doc: SourceDoc, problems: Problems): ParsedObject | SecurityObject | undefined {
  if (doc.apiVersion === '' || doc.kind === '') {
    problems.error(doc.location, doc.kind === '' ? 'kind' : 'apiVersion', 'is required (every document must be a Kubernetes object)');
    return undefined;
  }
  if (isSecurityKind(doc.apiVersion, doc.kind)) return parseSecurityDoc(doc, problems);
  if (isRequestAuthentication(doc.apiVersion, doc.kind)) {
    problems.warn(doc.location, '', 'RequestAuthentication (JWT) is L7 and enforced by waypoints, not by meshnode; skipped');
    return undefined;
  }
  const lookalike = securityLookalike(doc.apiVersion, doc.kind);
  if (lookalike) {
    problems.error({ ...doc.location, line: doc.lineOf(lookalike.path) }, lookalike.path,
      `${lookalike.message}; a security object that is not read would fail open`);
    return undefined;
  }
  const parser = PARSERS[doc.kind];
  if (!parser || !parser.apiVersions.includes(doc.apiVersion)) {
    problems.warn(doc.location, '', `${doc.apiVersion} ${doc.kind} is not a kind meshnode reads; skipped`);
    return undefined;
  }
  const r = new ObjectReader(doc, problems);
  return parser.parse(r);
}

function isSecurity(o: ParsedObject | SecurityObject): o is SecurityObject {
  return o.kind === 'AuthorizationPolicy' || o.kind === 'PeerAuthentication';
}
