import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { SpiffeId } from '../../agent/identity/spiffe-id.js';
import type { CertSource, TunnelCert } from '../../agent/tunnel/cert-source.js';

/**
 * A throwaway certificate authority made with the openssl CLI — an implementation independent
 * of meshnode's own CA — issuing Istio-shaped workload certificates: ECDSA P-256, a critical
 * SPIFFE URI SAN, serverAuth+clientAuth. Call `dispose()` in teardown.
 */
export class TestCa {
  readonly dir: string;
  readonly rootPem: string;
  private n = 0;

  constructor(readonly name = 'meshnode-test-ca') {
    this.dir = mkdtempSync(join(tmpdir(), 'meshnode-ca-'));
    this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', this.path('ca.key'), '-out', this.path('ca.crt'), '-days', '2', '-subj', `/O=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    this.rootPem = readFileSync(this.path('ca.crt'), 'utf8');
  }

  private path(file: string): string {
    return join(this.dir, file);
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** A leaf for `uris` (first is the identity); `extra` adds raw extension lines. */
  issue(uris: readonly string[], opts: { days?: number; eku?: string } = {}): TunnelCert {
    const base = this.path(`leaf${++this.n}`);
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${opts.eku ?? 'serverAuth,clientAuth'}`,
      `subjectAltName=critical,${uris.map((u) => `URI:${u}`).join(',')}`,
    ].join('\n');
    writeFileSync(`${base}.ext`, ext);
    this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/O=cluster.local']);
    this.openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', this.path('ca.crt'), '-CAkey', this.path('ca.key'),
      '-CAcreateserial', '-days', String(opts.days ?? 1), '-out', `${base}.crt`, '-extfile', `${base}.ext`]);
    const certPem = readFileSync(`${base}.crt`, 'utf8');
    const x509 = new X509Certificate(certPem);
    return {
      id: uris[0] as SpiffeId,
      chainPem: [certPem],
      keyPem: readFileSync(`${base}.key`, 'utf8'),
      rootsPem: [this.rootPem],
      serial: x509.serialNumber,
      notAfter: new Date(x509.validTo),
    };
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A certificate store over pre-issued certificates, with rotation on demand. It is the test's
 * stand-in for the identity manager's CA round trips: certificates are real, issued above.
 */
export class IssuedCerts implements CertSource {
  private readonly certs = new Map<string, TunnelCert>();
  private readonly listeners = new Set<(id: SpiffeId, cert: TunnelCert) => void>();

  constructor(private readonly roots: string[]) {}

  set(cert: TunnelCert): void {
    const had = this.certs.has(cert.id);
    this.certs.set(cert.id, cert);
    if (had) for (const l of this.listeners) l(cert.id, cert);
  }

  /** Forgets an identity's certificate (as when the CA cannot issue it). */
  delete(id: SpiffeId): void {
    this.certs.delete(id);
  }

  async fetch(id: SpiffeId, timeoutMs: number): Promise<TunnelCert> {
    const cert = this.certs.get(id);
    if (cert) return cert;
    await new Promise((r) => setTimeout(r, Math.min(timeoutMs, 50)));
    const later = this.certs.get(id);
    if (!later) throw new Error(`no certificate for ${id}`);
    return later;
  }

  current(id: SpiffeId): TunnelCert | undefined {
    return this.certs.get(id);
  }

  trustBundle(): string[] {
    return this.roots;
  }

  onRotate(listener: (id: SpiffeId, cert: TunnelCert) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
