/**
 * SPIFFE identities of the form `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
 * the only shape Istio issues and accepts (ztunnel-spec §5.1: exactly five path segments with the
 * literals `ns` and `sa`).
 */
declare const brand: unique symbol;

/** A validated SPIFFE id string; made only by parseSpiffeId / formatSpiffeId. */
export type SpiffeId = string & { readonly [brand]: 'SpiffeId' };

export interface Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/** Parses a SPIFFE id; returns an error message naming what is wrong when it is not one. */
export function parseSpiffeId(text: string): Identity | string {
  if (!text.startsWith('spiffe://')) return `identity "${text}" must start with spiffe://`;
  const parts = text.slice('spiffe://'.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') {
    return `identity "${text}" must have the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`;
  }
  const [trustDomain, , namespace, , serviceAccount] = parts as [string, string, string, string, string];
  if (!TRUST_DOMAIN.test(trustDomain)) return `identity "${text}" has an invalid trust domain "${trustDomain}"`;
  if (!SEGMENT.test(namespace)) return `identity "${text}" has an invalid namespace segment`;
  if (!SEGMENT.test(serviceAccount)) return `identity "${text}" has an invalid service account segment`;
  return { trustDomain, namespace, serviceAccount };
}

export function formatSpiffeId(id: Identity): SpiffeId {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}` as SpiffeId;
}

/** The validated id, or undefined. */
export function asSpiffeId(text: string): SpiffeId | undefined {
  return typeof parseSpiffeId(text) === 'string' ? undefined : (text as SpiffeId);
}
