import { X509Certificate } from 'node:crypto';
import { parseSpiffeId } from '../base/spiffe-id.js';
import { certificateUris } from '../base/x509.js';
import type { IssueVia } from '../../metrics/ca.js';
import { impersonationRefused, unauthenticated } from './errors.js';
import type { KubeAuthenticator } from './kube-authn.js';
import { matchesPattern, type TokenGrant } from './tokens.js';

/**
 * Who is calling and which identity it may obtain. A bearer token from `--tokens` names the
 * caller and its impersonation grants; any other bearer token goes to the Kubernetes API when
 * `--kube` is on; a client certificate issued by this CA lets its holder renew that same
 * identity without a token (istiod's first authenticator). Every refusal carries the exact
 * reason for the CA log; the caller only sees a generic message.
 */

export interface Entitlement {
  /** The authenticated caller's own identity. */
  readonly caller: string;
  readonly via: IssueVia;
  /** The one identity the CSR must name. */
  readonly identity: string;
}

export interface AuthnContext {
  readonly tokens: { lookup(token: string): TokenGrant | undefined };
  /** The CA's signing certificate: client certificates must be issued by it. */
  readonly signerCert: X509Certificate;
  readonly kube?: KubeAuthenticator | undefined;
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

export async function authenticate(authorization: readonly string[], peerCert: Buffer | undefined, impersonated: string | undefined, ctx: AuthnContext): Promise<Entitlement> {
  const token = bearerToken(authorization);
  const grant = token === undefined ? undefined : ctx.tokens.lookup(token);
  if (impersonated !== undefined) {
    if (token === undefined) throw unauthenticated('impersonation requested without a bearer token', 'no-credentials');
    const wanted = parseSpiffeId(impersonated);
    if (typeof wanted === 'string') throw impersonationRefused(`ImpersonatedIdentity: ${wanted}`, 'impersonation-denied');
    if (grant) {
      if (impersonated !== grant.identity && !grant.impersonate.some((p) => matchesPattern(p, impersonated))) {
        throw impersonationRefused(`${grant.identity} is not granted impersonation of ${impersonated}`, 'impersonation-denied');
      }
      return { caller: grant.identity, via: 'static-token', identity: impersonated };
    }
    if (!ctx.kube) throw unauthenticated('unknown bearer token', 'unknown-token');
    const caller = await ctx.kube.authenticate(token);
    if (impersonated !== caller.identity) await ctx.kube.authorizeImpersonation(caller, wanted);
    return { caller: caller.identity, via: 'kubernetes-token', identity: impersonated };
  }
  const certId = clientCertificateIdentity(peerCert, ctx.signerCert);
  if (certId) return { caller: certId, via: 'client-certificate', identity: certId };
  if (grant) return { caller: grant.identity, via: 'static-token', identity: grant.identity };
  if (token === undefined) throw unauthenticated('no bearer token and no client certificate issued by this CA', 'no-credentials');
  if (!ctx.kube) throw unauthenticated('unknown bearer token', 'unknown-token');
  const caller = await ctx.kube.authenticate(token);
  return { caller: caller.identity, via: 'kubernetes-token', identity: caller.identity };
}

/**
 * Who may watch revocations: a caller this CA would issue to, by bearer token (static, or
 * reviewed by the Kubernetes API with --kube) or by a client certificate it issued. What the CRL
 * says is public; the push is for the CA's own clients.
 */
export async function authenticateWatcher(authorization: readonly string[], peerCert: Buffer | undefined, ctx: AuthnContext): Promise<string> {
  return (await authenticate(authorization, peerCert, undefined, ctx)).caller;
}
