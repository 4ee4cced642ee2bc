/**
 * SPIFFE identities of the form `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
 * the only shape Istio issues and accepts: exactly five path segments with the literals `ns` and
 * `sa`. This is the one validator for every id meshnode parses — CA grants and
 * requests, the agent's identities, peer certificates — so none of them can disagree about what
 * an id is.
 */
declare const brand: unique symbol;

/** A validated SPIFFE id string; made only by parseSpiffeId / formatSpiffeId. */
export type SpiffeId = string & { readonly [brand]: 'SpiffeId' };

export interface Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** SPIFFE ID spec: an id is at most 2048 bytes. */
export const MAX_SPIFFE_ID_BYTES = 2048;

// SPIFFE ID spec §2.1/§2.2: the trust domain is lowercase letters, digits, '.', '-' and '_';
// path segments are letters, digits, '.', '-' and '_', never empty, '.' or '..' — so no
// percent-encoding, no '*', no ':' or '@' can hide another path inside a segment.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

// Kubernetes names: a namespace is a DNS-1123 label (≤ 63), a service account a DNS-1123
// subdomain (≤ 253): lowercase alphanumerics and '-' ('.' too in a subdomain), starting and
// ending with an alphanumeric.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_NAMESPACE = 63;
const MAX_SERVICE_ACCOUNT = 253;

/** Shown in messages instead of an id too long to be worth echoing. */
function shown(text: string): string {
  return text.length <= 256 ? text : `${text.slice(0, 64)}… (${text.length} characters)`;
}

function segmentProblem(segment: string): string | undefined {
  if (segment === '') return 'is empty';
  if (segment === '.' || segment === '..') return `is "${segment}"`;
  if (!PATH_SEGMENT.test(segment)) return 'holds a character other than letters, digits, ".", "-" and "_"';
  return undefined;
}

/** Parses a SPIFFE id; returns an error message naming what is wrong when it is not one. */
export function parseSpiffeId(text: string): Identity | string {
  if (Buffer.byteLength(text, 'utf8') > MAX_SPIFFE_ID_BYTES) return `identity "${shown(text)}" is longer than ${MAX_SPIFFE_ID_BYTES} bytes`;
  if (!text.startsWith('spiffe://')) return `identity "${shown(text)}" must start with spiffe://`;
  const parts = text.slice('spiffe://'.length).split('/');
  const [trustDomain = '', ...path] = parts;
  if (!TRUST_DOMAIN.test(trustDomain)) return `identity "${shown(text)}" has an invalid trust domain "${shown(trustDomain)}"`;
  for (const [i, segment] of path.entries()) {
    const problem = segmentProblem(segment);
    if (problem) return `identity "${shown(text)}": path segment ${i + 1} ${problem}`;
  }
  if (path.length !== 4 || path[0] !== 'ns' || path[2] !== 'sa') {
    return `identity "${shown(text)}" must have the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`;
  }
  const namespace = path[1]!;
  const serviceAccount = path[3]!;
  if (namespace.length > MAX_NAMESPACE || !DNS1123_LABEL.test(namespace)) {
    return `identity "${shown(text)}" has an invalid namespace: a Kubernetes namespace is a DNS-1123 label (lowercase alphanumerics and "-", at most ${MAX_NAMESPACE})`;
  }
  if (serviceAccount.length > MAX_SERVICE_ACCOUNT || !DNS1123_SUBDOMAIN.test(serviceAccount)) {
    return `identity "${shown(text)}" has an invalid service account: a Kubernetes service account name is a DNS-1123 subdomain (lowercase alphanumerics, "-" and ".", at most ${MAX_SERVICE_ACCOUNT})`;
  }
  return { trustDomain, namespace, serviceAccount };
}

export function formatSpiffeId(id: Identity): SpiffeId {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}` as SpiffeId;
}

/** The validated id, or undefined. */
export function asSpiffeId(text: string): SpiffeId | undefined {
  return typeof parseSpiffeId(text) === 'string' ? undefined : (text as SpiffeId);
}
