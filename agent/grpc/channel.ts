import { isIP } from 'node:net';
import tls from 'node:tls';
import { H2Session, type H2Headers, type SessionOptions } from '../h2/index.js';
import { Call } from './call.js';
import { frameMessage } from './framing.js';
import { GrpcError, Status } from './status.js';

/**
 * A gRPC client channel over TLS: one HTTP/2 connection, opened on the first call and again on
 * the first call after it was lost (the callers keep their own retry policy, so the channel has
 * no background reconnect loop), shared by every call. While calls are open it pings the
 * server and drops a connection that stops answering, so a long-lived stream on a dead peer
 * fails instead of hanging.
 */
export interface ChannelOptions {
  readonly host: string;
  readonly port: number;
  /** PEM roots that verify the server's certificate. */
  readonly ca: string;
  /** Client certificate for mutual TLS: key and chain (leaf first) in PEM. */
  readonly key?: string | undefined;
  readonly cert?: string | undefined;
  readonly maxMessageBytes: number;
  readonly connectTimeoutMs: number;
  readonly keepaliveMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly userAgent: string;
}

/** Metadata values go into HTTP/2 headers: printable ASCII only, and never quoted in an error (a token may be one). */
const HEADER_VALUE = /^[\x20-\x7e]*$/;
const HEADER_NAME = /^[0-9a-z_.-]+$/;

/** Small windows and limits: a control-plane call carries kilobytes, and the server is not trusted to be frugal. */
const SESSION: SessionOptions = {
  settings: { initialWindowSize: 1024 * 1024, maxFrameSize: 16_384, maxHeaderListSize: 16 * 1024 },
  connectionWindow: 4 * 1024 * 1024,
  limits: {
    maxHeaderPairs: 64, maxSettingsEntries: 32, maxOutstandingPings: 4, maxInvalidFrames: 20,
    maxRejectedStreams: 20, maxEmptyDataFrames: 20, maxSocketBacklog: 4 * 1024 * 1024,
  },
};

export class GrpcChannel {
  private session: H2Session | undefined;
  private connecting: Promise<H2Session> | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private readonly calls = new Set<Call>();
  private closed = false;
  readonly target: string;

  constructor(private readonly opts: ChannelOptions) {
    this.target = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  }

  /** One request, one response message; rejects with a GrpcError. `timeoutMs` covers connecting too. */
  async unary(path: string, request: Buffer, metadata: Readonly<Record<string, string>>, timeoutMs: number): Promise<Buffer> {
    const call = await this.start(path, request, metadata, timeoutMs);
    return new Promise((resolve, reject) => {
      const messages: Buffer[] = [];
      call.on('message', (m: Buffer) => {
        messages.push(m);
        if (messages.length > 1) call.cancel(Status.INTERNAL, 'more than one response message to a unary call');
      });
      call.on('error', reject);
      call.on('end', () => {
        if (messages.length === 1) resolve(messages[0]!);
        else reject(new GrpcError(Status.INTERNAL, 'a unary call ended without its response message'));
      });
    });
  }

  /** One request, a stream of response messages: the returned call emits `message`, then `end` or `error`. */
  serverStream(path: string, request: Buffer, metadata: Readonly<Record<string, string>>): Promise<Call> {
    return this.start(path, request, metadata, undefined);
  }

  private async start(path: string, request: Buffer, metadata: Readonly<Record<string, string>>, timeoutMs: number | undefined): Promise<Call> {
    const headers = this.requestHeaders(path, metadata, timeoutMs);
    const started = Date.now();
    const session = await this.ready(timeoutMs);
    const left = timeoutMs === undefined ? undefined : Math.max(1, timeoutMs - (Date.now() - started));
    let stream;
    try {
      stream = session.request(headers);
    } catch (err) {
      throw new GrpcError(Status.UNAVAILABLE, `the connection to ${this.target} takes no new calls`, { cause: err });
    }
    const call = new Call(stream, this.opts.maxMessageBytes, left);
    this.calls.add(call);
    const done = () => { this.calls.delete(call); };
    call.once('end', done);
    call.once('error', done);
    stream.end(frameMessage(request));
    return call;
  }

  private requestHeaders(path: string, metadata: Readonly<Record<string, string>>, timeoutMs: number | undefined): H2Headers {
    const headers: H2Headers = {
      ':method': 'POST', ':scheme': 'https', ':path': path, ':authority': this.target,
      'content-type': 'application/grpc', te: 'trailers', 'user-agent': this.opts.userAgent,
    };
    // The server learns the deadline too, and stops working on a call nobody waits for.
    if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.min(Math.max(1, Math.ceil(timeoutMs)), 99_999_999)}m`;
    for (const [name, value] of Object.entries(metadata)) {
      if (!HEADER_NAME.test(name) || name.startsWith('grpc-')) throw new GrpcError(Status.INTERNAL, `metadata name ${JSON.stringify(name)} cannot be sent`);
      if (!HEADER_VALUE.test(value)) throw new GrpcError(Status.INTERNAL, `metadata ${name} has characters not allowed in a header`);
      headers[name] = value;
    }
    return headers;
  }

  /** The open connection, or a new one; a call's own timeout bounds its wait for it. */
  private ready(timeoutMs: number | undefined): Promise<H2Session> {
    if (this.closed) return Promise.reject(new GrpcError(Status.CANCELLED, 'the channel is closed'));
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return Promise.resolve(s);
    this.connecting ??= this.connect().finally(() => { this.connecting = undefined; });
    if (timeoutMs === undefined) return this.connecting;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new GrpcError(Status.DEADLINE_EXCEEDED, `no connection to ${this.target} within ${timeoutMs} ms`)), timeoutMs);
      this.connecting!.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  private connect(): Promise<H2Session> {
    const { host, port, ca, key, cert } = this.opts;
    return new Promise((resolve, reject) => {
      // No SNI for an address (RFC 6066); the certificate is still checked against it.
      const socket = tls.connect({
        host, port, ca, key, cert, ALPNProtocols: ['h2'], minVersion: 'TLSv1.2',
        ...(isIP(host) === 0 ? { servername: host } : {}),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new GrpcError(Status.UNAVAILABLE, `no TLS connection to ${this.target} within ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new GrpcError(Status.UNAVAILABLE, `cannot connect to ${this.target}: ${err.message}`, { cause: err }));
      });
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          reject(new GrpcError(Status.UNAVAILABLE, `${this.target} did not negotiate HTTP/2 (ALPN h2)`));
          return;
        }
        if (this.closed) {
          socket.destroy();
          reject(new GrpcError(Status.CANCELLED, 'the channel is closed'));
          return;
        }
        socket.removeAllListeners('error');
        const session = new H2Session(socket, 'client', SESSION);
        session.on('error', () => undefined); // its calls fail with it; they carry the news
        session.on('close', () => { if (this.session === session) this.dropSession(); });
        this.session = session;
        this.startKeepalive(session);
        resolve(session);
      });
    });
  }

  private startKeepalive(session: H2Session): void {
    clearInterval(this.keepalive);
    this.keepalive = setInterval(() => {
      if (this.calls.size === 0 || session.destroyed) return;
      const timer = setTimeout(() => session.destroy(new Error('keepalive ping unanswered')), this.opts.keepaliveTimeoutMs);
      timer.unref();
      if (!session.ping(() => clearTimeout(timer))) clearTimeout(timer);
    }, this.opts.keepaliveMs);
    this.keepalive.unref();
  }

  private dropSession(): void {
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    this.session = undefined;
  }

  /** Ends every call (CANCELLED) and the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const call of [...this.calls]) call.cancel(Status.CANCELLED, 'the channel is closed');
    const s = this.session;
    this.dropSession();
    s?.destroy();
  }
}
