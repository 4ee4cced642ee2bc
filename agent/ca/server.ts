import { generateKeyPairSync } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { status } from '@grpc/grpc-js';
import type { Logger } from '../telemetry/log.js';
import { caApi, CREATE_CERTIFICATE_PATH, metadataString, type IstioCertificateRequest, type IstioCertificateResponse } from '../identity/index.js';
import { authenticate, type AuthnContext } from './authn.js';
import { checkCsr } from './csr-check.js';
import { CaRequestError } from './errors.js';
import { GRPC_LIMITS, UnaryGrpcServer, type Timeouts, type UnaryMethod } from './grpc-unary.js';
import { loadKeyMaterial } from './key-material.js';
import { Signer } from './signer.js';
import { TokenTable, WatchedTokenTable } from './tokens.js';

export interface CaServerOptions {
  readonly dir: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly trustDomain: string;
  readonly tokensFile?: string | undefined;
  readonly hostnames: readonly string[];
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  readonly log: Logger;
  /** Connection and call time limits; GRPC_LIMITS unless set. */
  readonly timeouts?: Partial<Timeouts>;
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
 * `meshnode ca`: the Istio CA API over gRPC/TLS (grpc-unary.ts), one CreateCertificate call at
 * a time on the event loop: authenticate, check the CSR, sign, audit.
 */
export class CaServer {
  private constructor(private readonly server: UnaryGrpcServer<IstioCertificateRequest, IstioCertificateResponse>, readonly port: number, readonly signer: Signer) {}

  static async start(opts: CaServerOptions): Promise<CaServer> {
    const material = loadKeyMaterial(opts.dir, opts.trustDomain, opts.log);
    const signer = new Signer(material, { defaultTtlMs: opts.defaultTtlMs, maxTtlMs: opts.maxTtlMs });
    const tokens = opts.tokensFile
      ? new WatchedTokenTable(opts.tokensFile, (err) => opts.log.error('tokens file changed but cannot be loaded; the previous tokens stay in force', { error: err.message }))
      : TokenTable.empty();
    if (tokens.size === 0) opts.log.warn('no bearer tokens configured: only client-certificate renewals can succeed');
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const serving = signer.issueServing(publicKey.export({ type: 'spki', format: 'der' }), servingNames(opts.listen.host, opts.hostnames), SERVING_LIFETIME_MS);
    const tls = {
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: serving.chain.slice(0, 1 + material.intermediatesPem.length).join(''),
      ca: [...material.intermediatesPem, ...material.rootsPem].join(''),
    };
    const method = createCertificateMethod(signer, { tokens, signerCert: material.signerCert }, opts.log);
    const server = new UnaryGrpcServer(tls, method, { ...GRPC_LIMITS, ...opts.timeouts });
    const port = await server.listen(opts.listen.host || '0.0.0.0', opts.listen.port);
    opts.log.info('listening', { host: opts.listen.host, port, mode: material.mode, trustDomain: opts.trustDomain, tokens: tokens.size });
    return new CaServer(server, port, signer);
  }

  close(graceMs = 2000): Promise<void> {
    return this.server.close(graceMs);
  }
}

function createCertificateMethod(signer: Signer, ctx: AuthnContext, log: Logger): UnaryMethod<IstioCertificateRequest, IstioCertificateResponse> {
  const audit = log.child('audit');
  const { requestDeserialize, responseSerialize } = caApi().service.CreateCertificate!;
  return {
    path: CREATE_CERTIFICATE_PATH,
    decode: (message) => requestDeserialize(message) as IstioCertificateRequest,
    encode: (response) => responseSerialize(response),
    handle: (call) => {
      try {
        const impersonated = metadataString(call.request.metadata, 'ImpersonatedIdentity');
        const entitlement = authenticate(call.header('authorization'), call.peerCertificate, impersonated, ctx);
        const csr = checkCsr(call.request.csr, entitlement.identity);
        const ttl = Number(call.request.validity_duration);
        const issued = signer.issueWorkload(csr.spki, entitlement.identity, Number.isFinite(ttl) ? ttl : 0);
        audit.info('issued certificate', {
          caller: entitlement.caller, via: entitlement.via, identity: entitlement.identity,
          serial: issued.serial, notAfter: issued.notAfter.toISOString(), key: csr.keyType, peer: call.peer,
        });
        return { response: { cert_chain: issued.chain } };
      } catch (err) {
        if (err instanceof CaRequestError) {
          log.warn('refused certificate request', { code: status[err.grpcCode], reason: err.reason, peer: call.peer });
          return { refused: { code: err.grpcCode, details: err.publicMessage } };
        }
        log.error('certificate request failed', { error: err, peer: call.peer });
        return { refused: { code: status.INTERNAL, details: 'CSR signing error (internal error)' } };
      }
    },
  };
}

