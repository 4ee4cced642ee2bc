import tls from 'node:tls';
import type { TunnelCert } from './cert-source.js';

/**
 * TLS parameters of HBONE, identical on both ends and the same as ztunnel's: TLS 1.3 only, the two
 * AES-GCM suites in ztunnel's order, ALPN exactly `h2`, no session resumption.
 */
export const HBONE_CIPHERSUITES = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';
export const HBONE_GROUPS = 'X25519:P-256:P-384';
export const HBONE_ALPN = ['h2'];
/** A peer that has not finished the handshake by then (say, trickling it) is dropped. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

interface CachedContext {
  readonly bundleKey: string;
  readonly context: tls.SecureContext;
}

const contexts = new WeakMap<TunnelCert, CachedContext>();

/**
 * One SecureContext per certificate (hence per identity, rebuilt when a rotation brings a new
 * certificate object or the trust bundle changes). Peers are verified against the trust bundle;
 * when the bundle is empty the certificate's own roots are used.
 */
export function secureContextFor(cert: TunnelCert, trustBundle: readonly string[]): tls.SecureContext {
  const roots = trustBundle.length > 0 ? trustBundle : cert.rootsPem;
  const bundleKey = roots.join('');
  const cached = contexts.get(cert);
  if (cached && cached.bundleKey === bundleKey) return cached.context;
  const context = tls.createSecureContext({
    key: cert.keyPem,
    cert: cert.chainPem.join('\n'),
    ca: [...roots],
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: HBONE_CIPHERSUITES,
    ecdhCurve: HBONE_GROUPS,
    sessionTimeout: 0,
  });
  contexts.set(cert, { bundleKey, context });
  return context;
}
