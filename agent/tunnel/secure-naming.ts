import type { X509Certificate } from 'node:crypto';
import { workloadIdentity, type PeerIdentity } from './peer-cert.js';

/**
 * The two identity checks HBONE makes, as ztunnel does, on a leaf that chains to the
 * trust bundle and has the shape of a workload certificate (peer-cert.ts): the client accepts a
 * server only when its SPIFFE id is one of the expected identities; the server takes the client's
 * SPIFFE id as the source identity and requires it to be in its own trust domain.
 */

/** Client side: undefined when the server's identity is acceptable, else why not. */
export function checkServerName(presented: string, expected: readonly string[]): string | undefined {
  if (expected.includes(presented)) return undefined;
  return `peer did not present the expected san: presented [${presented}], expected [${expected.join(', ')}]`;
}

/** Server side: the client's identity, or why it is refused. */
export function clientIdentity(leaf: X509Certificate, trustDomain: string): PeerIdentity | string {
  const peer = workloadIdentity(leaf, 'client');
  if (typeof peer === 'string') return peer;
  if (peer.identity.trustDomain !== trustDomain) {
    return `peer did not present the expected trust domain: got "${peer.identity.trustDomain}", want "${trustDomain}"`;
  }
  return peer;
}
