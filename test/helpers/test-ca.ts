import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import type { CertSource, TunnelCert } from '../../agent/tunnel/cert-source.js';

/**
 * A throwaway certificate authority made with the openssl CLI — an implementation independent
 * of meshnode's own CA — issuing Istio-shaped workload certificates: ECDSA P-256, a critical
 * SPIFFE URI SAN, serverAuth+clientAuth. With `parent` it is an intermediate of that CA (its
 * leaves carry it in their chain); `pathLen` constrains what may be below it. Call `dispose()` in
 * teardown.
 */
export interface CaOptions {
  readonly pathLen?: number;
  readonly parent?: TestCa;
  /** The CA certificate's keyUsage (default keyCertSign,cRLSign). */
  readonly keyUsage?: string;
}

/** One revoked certificate for `TestCa.crl`. */
export interface CrlRevocation {
  readonly serial: string;
  /** openssl's reason name (keyCompromise, superseded, ...); none when absent. */
  readonly reason?: string;
}

/** Deviations from a workload leaf, for certificates a peer must refuse. */
export interface LeafOptions {
  readonly days?: number;
  /** The extendedKeyUsage value; null leaves the extension out. */
  readonly eku?: string | null;
  /** basicConstraints CA:TRUE on the leaf. */
  readonly ca?: boolean;
  readonly dns?: readonly string[];
}

export class TestCa {
  readonly dir: string;
  readonly rootPem: string;
  /** This CA and its parents up to (not including) the root: what its leaves present after themselves. */
  private readonly intermediates: string[];
  private n = 0;

  constructor(readonly name = 'meshnode-test-ca', opts: CaOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'meshnode-ca-'));
    const ext = [`basicConstraints=critical,CA:TRUE${opts.pathLen === undefined ? '' : `,pathlen:${opts.pathLen}`}`, `keyUsage=critical,${opts.keyUsage ?? 'keyCertSign,cRLSign'}`];
    if (opts.parent) {
      writeFileSync(this.path('ca.ext'), ext.join('\n'));
      this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', this.path('ca.key'), '-out', this.path('ca.csr'), '-subj', `/O=${name}`]);
      opts.parent.sign(this.path('ca.csr'), this.path('ca.ext'), this.path('ca.crt'), 2);
      this.rootPem = opts.parent.rootPem;
      this.intermediates = [readFileSync(this.path('ca.crt'), 'utf8'), ...opts.parent.intermediates];
    } else {
      this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', this.path('ca.key'), '-out', this.path('ca.crt'), '-days', '2', '-subj', `/O=${name}`,
        ...ext.flatMap((e) => ['-addext', e])]);
      this.rootPem = readFileSync(this.path('ca.crt'), 'utf8');
      this.intermediates = [];
    }
  }

  private path(file: string): string {
    return join(this.dir, file);
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  private sign(csr: string, extfile: string, out: string, days: number): void {
    this.openssl(['x509', '-req', '-in', csr, '-CA', this.path('ca.crt'), '-CAkey', this.path('ca.key'),
      '-CAcreateserial', '-days', String(days), '-out', out, '-extfile', extfile]);
  }

  /** A leaf for `uris` (first is the identity), a workload certificate unless `opts` say otherwise. */
  issue(uris: readonly string[], opts: LeafOptions = {}): TunnelCert {
    const base = this.path(`leaf${++this.n}`);
    const eku = opts.eku === undefined ? 'serverAuth,clientAuth' : opts.eku;
    const ext = [
      `basicConstraints=critical,CA:${opts.ca ? 'TRUE' : 'FALSE'}`,
      'keyUsage=critical,digitalSignature,keyEncipherment',
      ...(eku === null ? [] : [`extendedKeyUsage=${eku}`]),
      `subjectAltName=critical,${[...uris.map((u) => `URI:${u}`), ...(opts.dns ?? []).map((d) => `DNS:${d}`)].join(',')}`,
    ].join('\n');
    writeFileSync(`${base}.ext`, ext);
    this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/O=cluster.local']);
    this.sign(`${base}.csr`, `${base}.ext`, `${base}.crt`, opts.days ?? 1);
    const certPem = readFileSync(`${base}.crt`, 'utf8');
    const x509 = new X509Certificate(certPem);
    return {
      id: uris[0] as SpiffeId,
      chainPem: [certPem, ...this.intermediates],
      keyPem: readFileSync(`${base}.key`, 'utf8'),
      rootsPem: [this.rootPem],
      serial: x509.serialNumber,
      notAfter: new Date(x509.validTo),
    };
  }

  /** This CA's certificate (PEM): the issuer of its leaves and of its CRLs. */
  get certPem(): string {
    return readFileSync(this.path('ca.crt'), 'utf8');
  }

  /**
   * A CRL signed by this CA with `openssl ca -gencrl` (PEM), listing `revoked`; `crlNumber`
   * adds the cRLNumber extension.
   */
  crl(revoked: readonly CrlRevocation[], crlNumber = 1): string {
    const day = (d: Date) => d.toISOString().slice(2, 19).replace(/[-:T]/g, '') + 'Z';
    const now = new Date();
    const later = new Date(now.getTime() + 86_400_000);
    const index = revoked.map((r, i) => `R\t${day(later)}\t${day(now)}${r.reason ? `,${r.reason}` : ''}\t${r.serial}\tunknown\t/CN=leaf${i}\n`).join('');
    writeFileSync(this.path('index.txt'), index);
    writeFileSync(this.path('crlnumber'), crlNumber.toString(16).padStart(2, '0') + '\n');
    writeFileSync(this.path('ca.cnf'), [
      '[ca]', 'default_ca = test', '[test]', `database = ${this.path('index.txt')}`, `crlnumber = ${this.path('crlnumber')}`,
      'default_md = sha256', 'default_crl_days = 1', 'crl_extensions = crl_ext', '[crl_ext]', 'authorityKeyIdentifier = keyid:always', '',
    ].join('\n'));
    this.openssl(['ca', '-batch', '-gencrl', '-config', this.path('ca.cnf'), '-keyfile', this.path('ca.key'), '-cert', this.path('ca.crt'), '-out', this.path('crl.pem')]);
    return readFileSync(this.path('crl.pem'), 'utf8');
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
