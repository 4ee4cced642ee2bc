import { X509Certificate } from 'node:crypto';
import { parseSpiffeId } from '../base/spiffe-id.js';
import { certificateUris } from '../base/x509.js';
import { impersonationRefused, unauthenticated } from './errors.js';
import { matchesPattern, type TokenGrant } from './tokens.js';

/**
 * Who is calling and which identity it may obtain. A bearer token from `--tokens` names the
 * caller and its impersonation grants; a client certificate issued by this CA lets its holder
 * renew that same identity without a token (istiod's first authenticator). Every refusal carries
 * the exact reason for the CA log; the caller only sees a generic message.
 */

export interface Entitlement {
  /** The authenticated caller's own identity. */
  readonly caller: string;
  readonly via: 'token' | 'client-certificate';
  /** The one identity the CSR must name. */
  readonly identity: string;
}

export interface AuthnContext {
  readonly tokens: { lookup(token: string): TokenGrant | undefined };
  /** The CA's signing certificate: client certificates must be issued by it. */
  readonly signerCert: X509Certificate;
}

const BEARER = 'Bearer ';

/** The first `authorization` value with the exact `Bearer ` prefix, wherever it stands (istiod's rule). */
export function bearerToken(authorization: readonly string[]): string | undefined {
  for (const text of authorization) {
    if (text.startsWith(BEARER) && text.length > BEARER.length) return text.slice(BEARER.length);
  }
  return undefined;
}

/** The SPIFFE id of a client certificate this CA issued and that is valid now, else undefined. */
export function clientCertificateIdentity(der: Buffer | undefined, signerCert: X509Certificate, now = Date.now()): string | undefined {
  if (!der) return undefined;
  try {
    const cert = new X509Certificate(der);
    if (cert.ca || !cert.checkIssued(signerCert) || !cert.verify(signerCert.publicKey)) return undefined;
    if (new Date(cert.validFrom).getTime() > now || new Date(cert.validTo).getTime() <= now) return undefined;
    const uris = certificateUris(cert.raw);
    return uris.length === 1 && typeof parseSpiffeId(uris[0]!) !== 'string' ? uris[0] : undefined;
  } catch {
    return undefined;
  }
}

export function authenticate(authorization: readonly string[], peerCert: Buffer | undefined, impersonated: string | undefined, ctx: AuthnContext): Entitlement {
  const token = bearerToken(authorization);
  const grant = token === undefined ? undefined : ctx.tokens.lookup(token);
  if (impersonated !== undefined) {
    if (token === undefined) throw unauthenticated('impersonation requested without a bearer token');
    if (!grant) throw unauthenticated('unknown bearer token');
    const parsed = parseSpiffeId(impersonated);
    if (typeof parsed === 'string') throw impersonationRefused(`ImpersonatedIdentity: ${parsed}`);
    if (impersonated !== grant.identity && !grant.impersonate.some((p) => matchesPattern(p, impersonated))) {
      throw impersonationRefused(`${grant.identity} is not granted impersonation of ${impersonated}`);
    }
    return { caller: grant.identity, via: 'token', identity: impersonated };
  }
  const certId = clientCertificateIdentity(peerCert, ctx.signerCert);
  if (certId) return { caller: certId, via: 'client-certificate', identity: certId };
  if (grant) return { caller: grant.identity, via: 'token', identity: grant.identity };
  throw unauthenticated(token === undefined ? 'no bearer token and no client certificate issued by this CA' : 'unknown bearer token');
}
