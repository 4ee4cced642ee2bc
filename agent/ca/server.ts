import { generateKeyPairSync } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import { ListenError } from '../lifecycle/http-endpoint.js';
import { caApi, metadataString, type IstioCertificateRequest, type IstioCertificateResponse } from '../identity/ca-api.js';
import { authenticate, type AuthnContext } from './authn.js';
import { checkCsr } from './csr-check.js';
import { CaRequestError } from './errors.js';
import { loadKeyMaterial } from './key-material.js';
import { Signer } from './signer.js';
import { TokenTable } from './tokens.js';

export interface CaServerOptions {
  readonly dir: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly trustDomain: string;
  readonly tokensFile?: string | undefined;
  readonly hostnames: readonly string[];
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly log: Logger;
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

/** grpc-js takes server key material from a provider; ours never changes while the CA runs. */
function staticProvider(caPem: string, chainPem: string, keyPem: string): grpc.experimental.CertificateProvider {
  // Updates are delivered after the server has registered its watcher (a synchronous update
  // would be lost and the server would drop every connection).
  return {
    addCaCertificateListener: (l) => queueMicrotask(() => l({ caCertificate: Buffer.from(caPem) })),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (l) => queueMicrotask(() => l({ certificate: Buffer.from(chainPem), privateKey: Buffer.from(keyPem) })),
    removeIdentityCertificateListener: () => {},
  };
}

/**
 * `meshnode ca`: the Istio CA API over gRPC/TLS. Client certificates are requested but optional
 * (Go's VerifyClientCertIfGiven, as istiod): token callers and certificate renewals share a port.
 */
export class CaServer {
  private constructor(private readonly server: grpc.Server, readonly port: number, readonly signer: Signer) {}

  static async start(opts: CaServerOptions): Promise<CaServer> {
    const material = loadKeyMaterial(opts.dir, opts.trustDomain, opts.log);
    const signer = new Signer(material, { defaultTtlMs: opts.defaultTtlMs, maxTtlMs: opts.maxTtlMs });
    const tokens = opts.tokensFile ? TokenTable.load(opts.tokensFile) : TokenTable.empty();
    if (tokens.size === 0) opts.log.warn('no bearer tokens configured: only client-certificate renewals can succeed');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const serving = signer.issueServing(publicKey.export({ type: 'spki', format: 'der' }), servingNames(opts.listen.host, opts.hostnames), SERVING_LIFETIME_MS);
    const chainPem = serving.chain.slice(0, 1 + material.intermediatesPem.length).join('');
    const caPem = [...material.intermediatesPem, ...material.rootsPem].join('');
    const provider = staticProvider(caPem, chainPem, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024 });
    server.addService(caApi().service, { CreateCertificate: createCertificateHandler(signer, { tokens, signerCert: material.signerCert }, opts.log) });
    const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
    const host = opts.listen.host.includes(':') ? `[${opts.listen.host}]` : opts.listen.host || '0.0.0.0';
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host}:${opts.listen.port}`, credentials, (err, bound) => (err ? reject(bindError(opts.listen, err)) : resolve(bound)));
    });
    opts.log.info('listening', { host: opts.listen.host, port, mode: material.mode, trustDomain: opts.trustDomain, tokens: tokens.size });
    return new CaServer(server, port, signer);
  }

  async close(graceMs = 2000): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.server.forceShutdown(); resolve(); }, graceMs);
      this.server.tryShutdown(() => { clearTimeout(timer); resolve(); });
    });
  }
}

type Call = grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>;

function createCertificateHandler(signer: Signer, ctx: AuthnContext, log: Logger): grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> {
  const audit = log.child('audit');
  return (call: Call, callback) => {
    try {
      const impersonated = metadataString(call.request.metadata, 'ImpersonatedIdentity');
      const peerCert = call.getAuthContext()?.sslPeerCertificate?.raw;
      const entitlement = authenticate(call.metadata, peerCert, impersonated, ctx);
      const csr = checkCsr(call.request.csr, entitlement.identity);
      const ttl = Number(call.request.validity_duration);
      const issued = signer.issueWorkload(csr.spki, entitlement.identity, Number.isFinite(ttl) ? ttl : 0);
      audit.info('issued certificate', {
        caller: entitlement.caller, via: entitlement.via, identity: entitlement.identity,
        serial: issued.serial, notAfter: issued.notAfter.toISOString(), key: csr.keyType, peer: call.getPeer(),
      });
      callback(null, { cert_chain: issued.chain });
    } catch (err) {
      if (err instanceof CaRequestError) {
        log.warn('refused certificate request', { code: grpc.status[err.grpcCode], reason: err.reason, peer: call.getPeer() });
        callback({ code: err.grpcCode, details: err.publicMessage });
        return;
      }
      log.error('certificate request failed', { error: err, peer: call.getPeer() });
      callback({ code: grpc.status.INTERNAL, details: 'CSR signing error (internal error)' });
    }
  };
}

/** grpc-js folds the system error into its message (`... [listen EADDRINUSE: ...]`); name the code. */
function bindError(listen: { readonly host: string; readonly port: number }, err: Error): ListenError {
  const code = /\b(E[A-Z]{3,})\b/.exec(err.message)?.[1];
  return new ListenError(listen.host || '0.0.0.0', listen.port, Object.assign(new Error(err.message), code ? { code } : {}));
}
