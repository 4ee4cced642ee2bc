import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { caApi, stringStruct, type CaServiceClient, type IstioCertificateRequest, type RevocationUpdate__Output } from './ca-api.js';
import { IdentityError } from './errors.js';
import { WatchedPemFile } from './trust-bundle.js';

export interface CaClientOptions {
  readonly address: { readonly host: string; readonly port: number };
  /** PEM root(s) that verify the CA's serving certificate. */
  readonly caRootFile: string;
  /** Bearer token file, re-read on every request (a projected token rotates underneath us). */
  readonly tokenFile?: string | undefined;
  readonly clusterId: string;
  readonly requestTimeoutMs: number;
}

const IP_SNI_PLACEHOLDER = 'ca.invalid';

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  // The manager keeps its own per-identity backoff; the channel should reconnect promptly when
  // the CA comes back instead of sitting out grpc's default of up to two minutes.
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.max_receive_message_length': 1024 * 1024,
};

function classify(err: grpc.ServiceError): IdentityError {
  const name = grpc.status[err.code] ?? String(err.code);
  const message = `CA: ${name}: ${err.details || err.message}`;
  switch (err.code) {
    case grpc.status.UNAVAILABLE: case grpc.status.DEADLINE_EXCEEDED: case grpc.status.CANCELLED:
      return new IdentityError('ca_unavailable', message);
    case grpc.status.UNAUTHENTICATED: case grpc.status.PERMISSION_DENIED:
      return new IdentityError('unauthenticated', message);
    default:
      return new IdentityError('rejected', message);
  }
}

/** Whatever a transport error says, it does not carry the token on into logs or `GET /certs`. */
function withoutToken(err: IdentityError, token: string | undefined): IdentityError {
  return token !== undefined && err.message.includes(token) ? new IdentityError(err.reason, err.message.split(token).join('<token>')) : err;
}

/**
 * A projected service-account token is 1–2 KiB and rarely past 8 KiB; far larger ones make the
 * HTTP/2 header block overflow what servers accept and the call dies as a bare RST_STREAM.
 */
export const MAX_TOKEN_BYTES = 16 * 1024;

// What grpc-js accepts in a header value (printable ASCII); anything else made it throw an error
// quoting the whole value — the token — into logs and `GET /certs`.
const HEADER_VALUE = /^[\x20-\x7e]+$/;

/**
 * The bearer token from `file`, checked before it goes anywhere near grpc-js. No message here
 * or later quotes the token: only the file and what is wrong with it.
 */
export async function readToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new IdentityError('token', `cannot read token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return checkToken(token, file);
}

/**
 * A token as read from `file` (already trimmed), or an IdentityError naming the file and what is
 * wrong; shared by every client that sends one (the CA, istiod's xDS).
 */
export function checkToken(token: string, file: string): string {
  if (token === '') throw new IdentityError('token', `token file ${file} is empty`);
  const bytes = Buffer.byteLength(token, 'utf8');
  if (bytes > MAX_TOKEN_BYTES) throw new IdentityError('token', `token file ${file} holds ${bytes} bytes, more than the ${MAX_TOKEN_BYTES} a token may have`);
  if (!HEADER_VALUE.test(token)) throw new IdentityError('token', `token file ${file} contains characters not allowed in a header`);
  return token;
}

/** A valid certificate of the identity being renewed, presented to the CA as the TLS client certificate. */
export interface ClientCertificate {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: readonly string[];
  readonly serial: string;
}

/**
 * Calls CreateCertificate on istiod or `meshnode ca` over TLS, verifying the CA with
 * `caRootFile`. The channel is rebuilt on the next call after that file changes (ztunnel#1775).
 * A renewal may authenticate with the identity's own current certificate instead of the token
 * (mutual TLS, no impersonation): a VM's short-lived bootstrap token is then needed only once.
 */
export class CaClient {
  private client: CaServiceClient | undefined;
  private clientRoots: readonly X509Certificate[] | undefined;
  /** The mutual-TLS channel of the certificate last used for a renewal (one per serial). */
  private mtls: { serial: string; roots: readonly X509Certificate[]; client: CaServiceClient } | undefined;
  private readonly root: WatchedPemFile;

  constructor(private readonly options: CaClientOptions) {
    this.root = new WatchedPemFile(options.caRootFile);
  }

  private async channel(): Promise<CaServiceClient> {
    const certs = await this.root.read();
    if (this.client && certs === this.clientRoots) return this.client;
    this.client?.close();
    this.clientRoots = certs;
    this.client = this.newClient(certs, undefined);
    return this.client;
  }

  private async mtlsChannel(own: ClientCertificate): Promise<CaServiceClient> {
    const certs = await this.root.read();
    if (this.mtls && this.mtls.serial === own.serial && this.mtls.roots === certs) return this.mtls.client;
    this.mtls?.client.close();
    const client = this.newClient(certs, own);
    this.mtls = { serial: own.serial, roots: certs, client };
    return client;
  }

  private newClient(roots: readonly X509Certificate[], own: ClientCertificate | undefined): CaServiceClient {
    const { host, port } = this.options.address;
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const rootPem = Buffer.from(roots.map((c) => c.toString()).join('\n'));
    const key = own ? Buffer.from(own.keyPem) : null;
    const chain = own ? Buffer.from(own.chainPem.join('\n')) : null;
    const { Client } = caApi();
    return isIP(host) === 0
      ? new Client(target, grpc.credentials.createSsl(rootPem, key, chain), CHANNEL_OPTIONS)
      : new Client(target, grpc.credentials.createSsl(rootPem, key, chain, {
        // grpc-js would send the IP as TLS SNI, which RFC 6066 forbids (Node warns); send a
        // placeholder name instead and still verify the certificate against the IP address.
        checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert),
      }), { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': IP_SNI_PLACEHOLDER });
  }

  private clusterMetadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('clusterid', this.options.clusterId);
    return md;
  }

  private async metadata(): Promise<{ md: grpc.Metadata; token: string | undefined }> {
    const md = this.clusterMetadata();
    if (this.options.tokenFile === undefined) return { md, token: undefined };
    const token = await readToken(this.options.tokenFile);
    md.set('authorization', `Bearer ${token}`);
    return { md, token };
  }

  /**
   * Sends one CSR asking for `impersonate`'s certificate; resolves to the raw cert_chain. With
   * `own` (a valid certificate of that identity) the request is authenticated by it alone.
   */
  async createCertificate(csrPem: string, ttlSeconds: number, impersonate: string, own?: ClientCertificate): Promise<string[]> {
    const [client, { md, token }] = own
      ? [await this.mtlsChannel(own), { md: this.clusterMetadata(), token: undefined }]
      : await Promise.all([this.channel(), this.metadata()]);
    const request: IstioCertificateRequest = {
      csr: csrPem, validity_duration: ttlSeconds, ...(own ? {} : { metadata: stringStruct({ ImpersonatedIdentity: impersonate }) }),
    };
    return new Promise((resolve, reject) => {
      client.CreateCertificate(request, md, { deadline: Date.now() + this.options.requestTimeoutMs }, (err, res) => {
        if (err) reject(withoutToken(classify(err), token));
        else resolve(res?.cert_chain ?? []);
      });
    });
  }

  /** Opens the CA's revocation push on the same channel (and credentials) as certificate requests. */
  async watchRevocations(): Promise<grpc.ClientReadableStream<RevocationUpdate__Output>> {
    const [client, { md }] = await Promise.all([this.channel(), this.metadata()]);
    const { RevocationClient } = caApi();
    // Shares the channel, so it is never closed on its own: closing the CA client closes both.
    const watcher = new RevocationClient('shared-channel', grpc.credentials.createInsecure(), { channelOverride: client.getChannel() });
    return watcher.WatchRevocations({}, md);
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
    this.mtls?.client.close();
    this.mtls = undefined;
  }
}
