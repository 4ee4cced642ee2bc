import { generateKeyPairSync } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { status } from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import { normalizeSerial } from '../base/crl.js';
import { certificatesIssued, requestDuration, requestsRefused } from '../../metrics/ca.js';
import { collectProcessMetrics } from '../../metrics/registry.js';
import { MetricsServer } from '../../metrics/server.js';
import { CREATE_CERTIFICATE_PATH, WATCH_REVOCATIONS_PATH } from '../identity/index.js';
import {
  caApi, metadataString, type IstioCertificateRequest__Output, type IstioCertificateResponse, type RevocationUpdate,
} from './ca-api.js';
import { authenticate, authenticateWatcher, type AuthnContext } from './authn.js';
import { checkCsr } from './csr-check.js';
import { CaRequestError, identityRevoked } from './errors.js';
import { GRPC_LIMITS, GrpcServer, type StreamingMethod, type Timeouts, type UnaryMethod } from './grpc-unary.js';
import { kubeApi, loadKubeConfig } from './kube-api.js';
import { KubeAuthenticator } from './kube-authn.js';
import { loadKeyMaterial } from './key-material.js';
import { crlSigningRefusal, RevocationAuthority, type PublishedCrl } from './revocation-authority.js';
import { Signer } from './signer.js';
import { TokenTable, WatchedTokenTable } from './tokens.js';

export interface CaServerOptions {
  readonly dir: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly trustDomain: string;
  readonly tokensFile?: string | undefined;
  /** Bearer tokens the table does not hold are reviewed by this Kubernetes API server. */
  readonly kube?: KubeCaOptions | undefined;
  /** Where to serve Prometheus metrics; none when unset. */
  readonly metrics?: { readonly host: string; readonly port: number } | undefined;
  readonly hostnames: readonly string[];
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly log: Logger;
  /** Connection and call time limits; GRPC_LIMITS unless set. */
  readonly timeouts?: Partial<Timeouts>;
  /** thisUpdate to nextUpdate of each published CRL (re-signed half-way). */
  readonly crlValidityMs?: number;
}

export interface KubeCaOptions {
  /** In-cluster config when unset. */
  readonly kubeconfig?: string | undefined;
  readonly audiences: readonly string[];
  /** `<namespace>/<service-account>` entries. */
  readonly trustedNodeAccounts: readonly string[];
}

const SERVING_LIFETIME_MS = 365 * 86_400_000;
const WILDCARDS = new Set(['', '0.0.0.0', '::']);

/** DNS and IP names for the serving certificate: the --hostname values and the listen address. */
export function servingNames(listenHost: string, hostnames: readonly string[]): { dns: string[]; ips: string[] } {
  const names = new Set(hostnames);
  if (WILDCARDS.has(listenHost)) ['localhost', '127.0.0.1', '::1', hostname()].forEach((n) => names.add(n));
  else names.add(listenHost);
  const all = [...names];
  return { dns: all.filter((n) => isIP(n) === 0), ips: all.filter((n) => isIP(n) !== 0) };
}

/**
 * `meshnode ca`: the Istio CA API over gRPC/TLS (grpc-unary.ts). A CreateCertificate call is
 * authenticated (waiting only for the Kubernetes API, with --kube), checked against the
 * revocations, its CSR checked, signed, recorded and audited; calls waiting on the API do not
 * hold up the others. WatchRevocations pushes each new CRL to the agents.
 */
export class CaServer {
  private constructor(
    private readonly server: GrpcServer,
    readonly port: number,
    readonly signer: Signer,
    readonly revocations: RevocationAuthority | undefined,
    private readonly metrics: MetricsServer | undefined,
  ) {}

  static async start(opts: CaServerOptions): Promise<CaServer> {
    const material = loadKeyMaterial(opts.dir, opts.trustDomain, opts.log);
    const signer = new Signer(material, { defaultTtlMs: opts.defaultTtlMs, maxTtlMs: opts.maxTtlMs });
    const tokens = opts.tokensFile
      ? new WatchedTokenTable(opts.tokensFile, (err) => opts.log.error('tokens file changed but cannot be loaded; the previous tokens stay in force', { error: err.message }))
      : TokenTable.empty();
    const kube = opts.kube && new KubeAuthenticator({
      api: kubeApi(loadKubeConfig(opts.kube.kubeconfig)), audiences: opts.kube.audiences,
      trustedNodeAccounts: new Set(opts.kube.trustedNodeAccounts), trustDomain: opts.trustDomain,
    });
    if (tokens.size === 0 && !kube) opts.log.warn('no bearer tokens configured: only client-certificate renewals can succeed');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const serving = signer.issueServing(publicKey.export({ type: 'spki', format: 'der' }), servingNames(opts.listen.host, opts.hostnames), SERVING_LIFETIME_MS);
    const tls = {
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: serving.chain.slice(0, 1 + material.intermediatesPem.length).join(''),
      ca: [...material.intermediatesPem, ...material.rootsPem].join(''),
    };
    // A CA that may not sign CRLs still issues; revocation is off and says why wherever asked.
    const refusal = crlSigningRefusal(material);
    if (refusal) opts.log.error('revocation is disabled', { reason: refusal });
    const revocations = refusal ? undefined : await RevocationAuthority.start(opts.dir, material, opts.log.child('revocation'), opts.crlValidityMs);
    const ctx = { tokens, signerCert: material.signerCert, kube };
    const methods = [
      createCertificateMethod(signer, ctx, revocations, opts.log),
      watchRevocationsMethod(ctx, revocations, refusal, opts.log),
    ];
    const server = new GrpcServer(tls, methods, { ...GRPC_LIMITS, ...opts.timeouts });
    let metrics: MetricsServer | undefined;
    let metricsPort: number | undefined;
    if (opts.metrics) {
      collectProcessMetrics();
      metrics = new MetricsServer();
      metricsPort = (await metrics.start(opts.metrics.host, opts.metrics.port)).port;
    }
    let port: number;
    try {
      port = await server.listen(opts.listen.host || '0.0.0.0', opts.listen.port);
    } catch (err) {
      metrics?.destroy();
      await revocations?.close();
      throw err;
    }
    opts.log.info('listening', {
      host: opts.listen.host, port, mode: material.mode, trustDomain: opts.trustDomain, tokens: tokens.size,
      kube: opts.kube ? { audiences: opts.kube.audiences, trustedNodeAccounts: opts.kube.trustedNodeAccounts } : false,
      ...(metricsPort === undefined ? {} : { metricsPort }),
    });
    return new CaServer(server, port, signer, revocations, metrics);
  }

  async close(graceMs = 2000): Promise<void> {
    await Promise.all([this.server.close(graceMs), this.metrics?.close()]);
    await this.revocations?.close();
  }
}

function watchRevocationsMethod(ctx: AuthnContext, revocations: RevocationAuthority | undefined, refusal: string | undefined,
  log: Logger): StreamingMethod<unknown, RevocationUpdate> {
  const { requestDeserialize, responseSerialize } = caApi().revocation.WatchRevocations;
  const update = (crl: PublishedCrl): RevocationUpdate => ({ crl: crl.der, crl_number: Number(crl.number) });
  return {
    path: WATCH_REVOCATIONS_PATH,
    streaming: true,
    decode: (message) => requestDeserialize(message),
    encode: (message) => responseSerialize(message),
    open: async (call, sink) => {
      try {
        const caller = await authenticateWatcher(call.header('authorization'), call.peerCertificate, ctx);
        if (!revocations) return { refused: { code: status.FAILED_PRECONDITION, details: `revocation is disabled: ${refusal ?? 'unknown'}` } };
        log.debug('revocation watcher subscribed', { caller, peer: call.peer });
        if (revocations.current) sink.send(update(revocations.current));
        return { closed: revocations.subscribe((crl) => sink.send(update(crl))) };
      } catch (err) {
        if (!(err instanceof CaRequestError)) throw err;
        log.warn('refused revocation watch', { code: status[err.grpcCode], reason: err.reason, peer: call.peer });
        return { refused: { code: err.grpcCode, details: err.publicMessage } };
      }
    },
  };
}

function createCertificateMethod(signer: Signer, ctx: AuthnContext, revocations: RevocationAuthority | undefined,
  log: Logger): UnaryMethod<IstioCertificateRequest__Output, IstioCertificateResponse> {
  const audit = log.child('audit');
  const { requestDeserialize, responseSerialize } = caApi().service.CreateCertificate;
  return {
    path: CREATE_CERTIFICATE_PATH,
    decode: (message) => requestDeserialize(message),
    encode: (response) => responseSerialize(response),
    handle: async (call) => {
      const started = performance.now();
      const took = (result: 'issued' | 'refused') => requestDuration.observe({ result }, (performance.now() - started) / 1000);
      try {
        const impersonated = metadataString(call.request.metadata, 'ImpersonatedIdentity');
        const entitlement = await authenticate(call.header('authorization'), call.peerCertificate, impersonated, ctx);
        if (revocations?.isIdentityRevoked(entitlement.identity)) throw identityRevoked(entitlement.identity);
        const csr = checkCsr(call.request.csr, entitlement.identity);
        const ttl = Number(call.request.validity_duration);
        const issued = signer.issueWorkload(csr.spki, entitlement.identity, Number.isFinite(ttl) ? ttl : 0);
        // Recorded before it is handed out, so revoking the identity can find it.
        await revocations?.record({ serial: normalizeSerial(issued.serial), identity: entitlement.identity, notAfter: issued.notAfter });
        audit.info('issued certificate', {
          caller: entitlement.caller, via: entitlement.via, identity: entitlement.identity,
          serial: issued.serial, notAfter: issued.notAfter.toISOString(), key: csr.keyType, peer: call.peer,
        });
        certificatesIssued.inc({ via: entitlement.via });
        took('issued');
        return { response: { cert_chain: issued.chain } };
      } catch (err) {
        took('refused');
        if (err instanceof CaRequestError) {
          requestsRefused.inc({ reason: err.refusal });
          log.warn('refused certificate request', { code: status[err.grpcCode], refusal: err.refusal, reason: err.reason, peer: call.peer });
          return { refused: { code: err.grpcCode, details: err.publicMessage } };
        }
        requestsRefused.inc({ reason: 'internal' });
        log.error('certificate request failed', { error: err, peer: call.peer });
        return { refused: { code: status.INTERNAL, details: 'CSR signing error (internal error)' } };
      }
    },
  };
}

