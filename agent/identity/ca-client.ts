import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GrpcChannel, GrpcError, Status, statusName, type Call } from '../grpc/index.js';
import { ProtobufError } from '../base/protobuf.js';
import {
  CREATE_CERTIFICATE_PATH, EMPTY_MESSAGE, WATCH_REVOCATIONS_PATH, decodeCertificateResponse, encodeCertificateRequest,
} from './ca-messages.js';
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

const CHANNEL = {
  keepaliveMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  maxMessageBytes: 1024 * 1024,
  userAgent: 'meshnode-agent',
} as const;

function classify(err: unknown): IdentityError {
  if (err instanceof IdentityError) return err;
  if (err instanceof ProtobufError) return new IdentityError('malformed', `CA: ${err.message}`);
  if (!(err instanceof GrpcError)) return new IdentityError('ca_unavailable', `CA: ${(err as Error).message}`);
  const message = `CA: ${statusName(err.status)}: ${err.details}`;
  switch (err.status) {
    case Status.UNAVAILABLE: case Status.DEADLINE_EXCEEDED: case Status.CANCELLED:
      return new IdentityError('ca_unavailable', message);
    case Status.UNAUTHENTICATED: case Status.PERMISSION_DENIED:
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

// What an HTTP/2 header value may hold here (printable ASCII); checked before the token is sent,
// so that no later error has reason to quote it.
const HEADER_VALUE = /^[\x20-\x7e]+$/;

/**
 * The bearer token from `file`, checked before it goes anywhere near the wire. No message here
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
  private channel: { roots: readonly X509Certificate[]; channel: GrpcChannel } | undefined;
  /** The mutual-TLS channel of the certificate last used for a renewal (one per serial). */
  private mtls: { serial: string; roots: readonly X509Certificate[]; channel: GrpcChannel } | undefined;
  private readonly root: WatchedPemFile;

  constructor(private readonly options: CaClientOptions) {
    this.root = new WatchedPemFile(options.caRootFile);
  }

  private async tokenChannel(): Promise<GrpcChannel> {
    const roots = await this.root.read();
    if (this.channel && this.channel.roots === roots) return this.channel.channel;
    this.channel?.channel.close();
    this.channel = { roots, channel: this.newChannel(roots, undefined) };
    return this.channel.channel;
  }

  private async mtlsChannel(own: ClientCertificate): Promise<GrpcChannel> {
    const roots = await this.root.read();
    if (this.mtls && this.mtls.serial === own.serial && this.mtls.roots === roots) return this.mtls.channel;
    this.mtls?.channel.close();
    const channel = this.newChannel(roots, own);
    this.mtls = { serial: own.serial, roots, channel };
    return channel;
  }

  private newChannel(roots: readonly X509Certificate[], own: ClientCertificate | undefined): GrpcChannel {
    const { host, port } = this.options.address;
    return new GrpcChannel({
      ...CHANNEL, host, port, ca: roots.map((c) => c.toString()).join('\n'), key: own?.keyPem, cert: own?.chainPem.join('\n'),
    });
  }

  private async metadata(withToken: boolean): Promise<{ md: Record<string, string>; token: string | undefined }> {
    const md: Record<string, string> = { clusterid: this.options.clusterId };
    if (!withToken || this.options.tokenFile === undefined) return { md, token: undefined };
    const token = await readToken(this.options.tokenFile);
    md['authorization'] = `Bearer ${token}`;
    return { md, token };
  }

  /**
   * Sends one CSR asking for `impersonate`'s certificate; resolves to the raw cert_chain. With
   * `own` (a valid certificate of that identity) the request is authenticated by it alone.
   */
  async createCertificate(csrPem: string, ttlSeconds: number, impersonate: string, own?: ClientCertificate): Promise<string[]> {
    const [channel, { md, token }] = await Promise.all([own ? this.mtlsChannel(own) : this.tokenChannel(), this.metadata(!own)]);
    const request = encodeCertificateRequest({
      csr: csrPem, validitySeconds: ttlSeconds, metadata: own ? undefined : { ImpersonatedIdentity: impersonate },
    });
    try {
      return decodeCertificateResponse(await channel.unary(CREATE_CERTIFICATE_PATH, request, md, this.options.requestTimeoutMs));
    } catch (err) {
      throw withoutToken(classify(err), token);
    }
  }

  /** Opens the CA's revocation push on the same channel (and credentials) as certificate requests. */
  async watchRevocations(): Promise<Call> {
    const [channel, { md }] = await Promise.all([this.tokenChannel(), this.metadata(true)]);
    return channel.serverStream(WATCH_REVOCATIONS_PATH, EMPTY_MESSAGE, md);
  }

  close(): void {
    this.channel?.channel.close();
    this.channel = undefined;
    this.mtls?.channel.close();
    this.mtls = undefined;
  }
}
