import { createSecureContext, type SecureContext } from 'node:tls';

/** HBONE's TLS: 1.3 only, AES-GCM suites (ztunnel-spec §1.2). */
export const TLS_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384';

/**
 * One context per identity, built once per issued certificate and shared by every connection of
 * that identity: key, chain (leaf + intermediates) and the trust bundle for verifying peers.
 */
export function workloadSecureContext(keyPem: string, chainPem: readonly string[], rootsPem: readonly string[]): SecureContext {
  return createSecureContext({
    key: keyPem,
    cert: chainPem.join(''),
    ca: [...rootsPem],
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: TLS_CIPHERSUITES,
  });
}
