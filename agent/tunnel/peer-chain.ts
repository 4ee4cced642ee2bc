import type { H2Session, H2Stream } from '../h2/index.js';
import type tls from 'node:tls';

/**
 * The certificate chain each HBONE session's peer presented (leaf first, ending with the trust
 * anchor it verified to), kept per session so that a CRL arriving later can find the tunnels
 * established with a certificate it revokes.
 */
const chains = new WeakMap<H2Session, readonly Buffer[]>();

/** DERs of a verified peer certificate and its issuers, as the TLS stack linked them. */
export function presentedChain(cert: tls.DetailedPeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<tls.DetailedPeerCertificate>();
  for (let c: tls.DetailedPeerCertificate | undefined = cert; c?.raw && !seen.has(c); c = c.issuerCertificate) {
    seen.add(c);
    out.push(c.raw);
  }
  return out;
}

export function recordPeerChain(session: H2Session, chain: readonly Buffer[]): void {
  chains.set(session, chain);
}

/** The chain the peer of `stream`'s HBONE session presented, when known. */
export function tunnelPeerChain(stream: H2Stream): readonly Buffer[] | undefined {
  return chains.get(stream.session);
}

/** Undefined when the chain may be used, else why not (a revoked certificate, an unverifiable CRL). */
export type RevocationCheck = (chain: readonly Buffer[]) => string | undefined;
