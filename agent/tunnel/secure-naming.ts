import { parseSpiffeId, type Identity, type SpiffeId } from '../identity/spiffe-id.js';

/**
 * Reading SPIFFE identities out of a peer certificate and the two checks HBONE makes with them
 * (ztunnel-spec §1.3, §1.4): the client accepts a server only when one of its SPIFFE URI SANs is
 * exactly one of the expected identities; the server takes the first SPIFFE URI SAN as the
 * source identity and requires it to be in its own trust domain.
 */

/**
 * Splits Node's `subjectAltName` text (`URI:a, DNS:b`). Node JSON-quotes a value that contains
 * a separator or quote (CVE-2021-44532), so quoted values are decoded rather than split.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  const uris: string[] = [];
  if (!subjectAltName) return uris;
  let i = 0;
  while (i < subjectAltName.length) {
    const colon = subjectAltName.indexOf(':', i);
    if (colon < 0) break;
    const type = subjectAltName.slice(i, colon);
    let value: string;
    let next: number;
    if (subjectAltName[colon + 1] === '"') {
      const end = closingQuote(subjectAltName, colon + 2);
      value = decodeQuoted(subjectAltName.slice(colon + 1, end + 1));
      next = end + 1;
    } else {
      const comma = subjectAltName.indexOf(', ', colon);
      next = comma < 0 ? subjectAltName.length : comma;
      value = subjectAltName.slice(colon + 1, next);
    }
    if (type === 'URI') uris.push(value);
    i = next + 2;
  }
  return uris;
}

function decodeQuoted(text: string): string {
  try {
    return JSON.parse(text) as string;
  } catch {
    return '';
  }
}

function closingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}

export interface PeerIdentity {
  readonly id: SpiffeId;
  readonly identity: Identity;
}

/**
 * Every URI SAN that parses as a SPIFFE id, in certificate order; others are ignored. Takes the
 * SAN text (`X509Certificate.subjectAltName` or a peer certificate's `subjectaltname`).
 */
export function spiffeIdsOf(subjectAltName: string | undefined): PeerIdentity[] {
  const ids: PeerIdentity[] = [];
  for (const uri of uriSans(subjectAltName)) {
    const parsed = parseSpiffeId(uri);
    if (typeof parsed !== 'string') ids.push({ id: uri as SpiffeId, identity: parsed });
  }
  return ids;
}

/** Client side: undefined when the server is acceptable, else why not. */
export function checkServerName(subjectAltName: string | undefined, expected: readonly string[]): string | undefined {
  const presented = spiffeIdsOf(subjectAltName).map((p) => p.id);
  if (presented.some((id) => expected.includes(id))) return undefined;
  return `peer did not present the expected san: presented [${presented.join(', ')}], expected [${expected.join(', ')}]`;
}

/** Server side: the client's identity, or why it is refused. */
export function clientIdentity(subjectAltName: string | undefined, trustDomain: string): PeerIdentity | string {
  const first = spiffeIdsOf(subjectAltName)[0];
  if (!first) return 'client certificate has no spiffe uri san';
  if (first.identity.trustDomain !== trustDomain) {
    return `peer did not present the expected trust domain: got "${first.identity.trustDomain}", want "${trustDomain}"`;
  }
  return first;
}
