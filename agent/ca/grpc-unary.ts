import type { EventEmitter } from 'node:events';
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { status } from '@grpc/grpc-js';
import { listenOn } from '../base/http-endpoint.js';

/**
 * gRPC methods served over HTTP/2 with TLS, on node:http2 directly: unary ones, and
 * server-streaming ones whose call stays open while the server pushes messages. grpc-js's server
 * gives a handler neither every value of a repeated header (node:http2 keeps only the first
 * `authorization` in its header object; the raw list has them all, and istiod honours the first
 * `Bearer` one wherever it stands) nor any say over how long a connection may sit idle before
 * or after its handshake. A unary call needs little of gRPC: a length-prefixed message each
 * way and the status in trailers.
 */

export const GRPC_LIMITS = {
  /** TCP accepted to TLS finished, the wait for the ClientHello included. */
  handshakeTimeoutMs: 10_000,
  /** A connection with no call open is closed (GOAWAY) after this; clients reconnect on demand. */
  idleTimeoutMs: 120_000,
  /** A call with nothing sent or received for this long is reset (a request trickled in never ends). */
  requestTimeoutMs: 10_000,
  /** Request message size (a CSR is at most 64 KiB of PEM). */
  maxMessageBytes: 256 * 1024,
  /** Header block size: a 16 KiB bearer token and the usual headers fit with room to spare. */
  maxHeaderListBytes: 64 * 1024,
  maxConcurrentStreams: 256,
} as const;

export interface Timeouts {
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export interface UnaryCall<Req> {
  readonly request: Req;
  /** Every value of `name` in the request headers, in the order sent. */
  header(name: string): string[];
  /** DER of the client certificate, when one was presented and verifies to the configured CA. */
  readonly peerCertificate: Buffer | undefined;
  readonly peer: string;
}

/** A refusal the caller sees as `code` and `details`. */
export interface GrpcStatus {
  readonly code: status;
  readonly details: string;
}

export type UnaryResult<Res> = { readonly response: Res } | { readonly refused: GrpcStatus };

export interface UnaryMethod<Req, Res> {
  readonly path: string;
  decode(message: Buffer): Req;
  encode(response: Res): Buffer;
  /** May wait (a Kubernetes API call); the answer goes out only if the call is still open. */
  handle(call: UnaryCall<Req>): UnaryResult<Res> | Promise<UnaryResult<Res>>;
}

/** Where a server-streaming call sends its messages. */
export interface StreamSink<Res> {
  send(message: Res): void;
  /** Ends the call with `status` in the trailers. */
  end(status: GrpcStatus): void;
}

export type StreamOpened = { readonly refused: GrpcStatus } | { readonly closed: () => void };

export interface StreamingMethod<Req, Res> {
  readonly path: string;
  readonly streaming: true;
  decode(message: Buffer): Req;
  encode(message: Res): Buffer;
  /** Refuses the call, or starts it and returns what to call once it has ended; may wait (a Kubernetes API call). */
  open(call: UnaryCall<Req>, sink: StreamSink<Res>): StreamOpened | Promise<StreamOpened>;
}

// Each method's request and response types are its own; the table only routes by path.
export type GrpcMethod = UnaryMethod<any, any> | StreamingMethod<any, any>;

export interface TlsMaterial {
  readonly key: string;
  /** Serving certificate chain, PEM. */
  readonly cert: string;
  /** Roots client certificates must verify to. */
  readonly ca: string;
}

// grpc-message is percent-encoded (gRPC over HTTP/2 spec): bytes outside printable ASCII, and '%'.
function encodeMessage(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

function framed(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

function headerValues(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

export class GrpcServer {
  private readonly server: http2.Http2SecureServer;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly methods: ReadonlyMap<string, GrpcMethod>;
  private readonly sinks = new Set<StreamSink<unknown>>();

  constructor(tls: TlsMaterial, methods: readonly GrpcMethod[], private readonly timeouts: Timeouts = GRPC_LIMITS) {
    this.methods = new Map(methods.map((m) => [m.path, m]));
    this.server = http2.createSecureServer({
      key: tls.key, cert: tls.cert, ca: tls.ca,
      // Requested, not required (Go's VerifyClientCertIfGiven, as istiod): token callers and
      // certificate renewals share the port.
      requestCert: true, rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      handshakeTimeout: timeouts.handshakeTimeoutMs,
      settings: { maxConcurrentStreams: GRPC_LIMITS.maxConcurrentStreams, maxHeaderListSize: GRPC_LIMITS.maxHeaderListBytes },
    });
    this.server.on('session', (session) => this.track(session));
    // node:http2 passes the raw header list as a fourth argument that its typings leave out.
    const events: EventEmitter = this.server;
    events.on('stream', (stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => this.serve(stream, headers, rawHeaders));
    this.server.on('tlsClientError', () => { /* a failed or timed-out handshake costs only that connection */ });
  }

  async listen(host: string, port: number): Promise<number> {
    return (await listenOn(this.server, host, port)).port;
  }

  /** Stops accepting, ends streaming calls, lets unary calls finish for `graceMs`, then drops what is left. */
  close(graceMs: number): Promise<void> {
    for (const sink of [...this.sinks]) sink.end({ code: status.UNAVAILABLE, details: 'the CA is shutting down' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, graceMs);
      this.server.close(() => { clearTimeout(timer); resolve(); });
      for (const s of this.sessions) s.close();
    });
  }

  /** Closes the session once it has had no call open for the idle timeout. */
  private track(session: ServerHttp2Session): void {
    this.sessions.add(session);
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      idle = setTimeout(() => session.close(), this.timeouts.idleTimeoutMs);
      idle.unref();
    };
    arm();
    session.on('stream', (stream: ServerHttp2Stream) => {
      open++;
      clearTimeout(idle);
      stream.once('close', () => { if (--open === 0 && !session.closed) arm(); });
    });
    session.on('error', () => { /* the socket is gone; 'close' follows */ });
    session.once('close', () => {
      clearTimeout(idle);
      this.sessions.delete(session);
    });
  }

  private serve(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[]): void {
    stream.on('error', () => { /* reset by the client; nothing to answer */ });
    const method = this.methods.get(String(headers[':path']));
    if (headers[':method'] !== 'POST' || !method) {
      this.finish(stream, { code: status.UNIMPLEMENTED, details: `unknown method ${String(headers[':path'])}` });
      return;
    }
    if (!String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    stream.setTimeout(this.timeouts.requestTimeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > GRPC_LIMITS.maxMessageBytes + 5) {
        this.finish(stream, { code: status.RESOURCE_EXHAUSTED, details: `request larger than ${GRPC_LIMITS.maxMessageBytes} bytes` });
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (stream.headersSent) return;
      const body = Buffer.concat(chunks);
      const socket = stream.session?.socket as TLSSocket | undefined;
      const peer = `${socket?.remoteAddress ?? 'unknown'}:${socket?.remotePort ?? 0}`;
      const length = body.length >= 5 ? body.readUInt32BE(1) : -1;
      if (body.length < 5 || length !== body.length - 5) {
        this.finish(stream, { code: status.INTERNAL, details: 'request is not one length-prefixed message' });
        return;
      }
      if (body[0] !== 0) {
        this.finish(stream, { code: status.UNIMPLEMENTED, details: 'compressed messages are not supported' });
        return;
      }
      let request: unknown;
      try {
        request = method.decode(body.subarray(5));
      } catch {
        this.finish(stream, { code: status.INTERNAL, details: 'cannot decode the request message' });
        return;
      }
      const cert = socket?.authorized ? socket.getPeerCertificate() : undefined;
      const call: UnaryCall<unknown> = { request, peer, header: (name) => headerValues(rawHeaders, name), peerCertificate: cert?.raw };
      // A failing handler costs its call, never the server.
      const failed = () => this.finish(stream, { code: status.INTERNAL, details: 'internal error' });
      ('streaming' in method ? this.startStream(stream, method, call) : this.answer(stream, method, call)).catch(failed);
    });
  }

  private async answer(stream: ServerHttp2Stream, method: UnaryMethod<unknown, unknown>, call: UnaryCall<unknown>): Promise<void> {
    let result: UnaryResult<unknown>;
    try {
      result = await method.handle(call);
    } catch {
      // A handler fault must not take the CA down or leak its detail to the caller.
      result = { refused: { code: status.INTERNAL, details: 'internal error' } };
    }
    if ('refused' in result) {
      this.finish(stream, result.refused);
      return;
    }
    if (stream.headersSent || stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(status.OK) }));
    stream.end(framed(method.encode(result.response)));
  }

  /** A server-streaming call: open until the client cancels, the method ends it, or the server closes. */
  private async startStream(stream: ServerHttp2Stream, method: StreamingMethod<unknown, unknown>, call: UnaryCall<unknown>): Promise<void> {
    let ended = false;
    // The method may send its first message from open(); writing before respond() would commit
    // default headers and make the later respond() throw, so the headers go out with whatever
    // comes first.
    const respond = () => { if (!stream.headersSent && !stream.destroyed) stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true }); };
    const sink: StreamSink<unknown> = {
      send: (message) => {
        if (ended || stream.destroyed) return;
        respond();
        stream.write(framed(method.encode(message)));
      },
      end: (s) => {
        if (ended) return;
        ended = true;
        this.sinks.delete(sink);
        if (stream.destroyed) return;
        respond();
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(s.code), 'grpc-message': encodeMessage(s.details) }));
        stream.end();
      },
    };
    let opened: StreamOpened;
    try {
      opened = await method.open(call, sink);
    } catch {
      opened = { refused: { code: status.INTERNAL, details: 'internal error' } };
    }
    if ('refused' in opened) {
      this.finish(stream, opened.refused);
      return;
    }
    // The client may have gone while open() waited.
    if (stream.destroyed) {
      opened.closed();
      return;
    }
    // The call is meant to stay quiet between updates; HTTP/2 PINGs keep the connection honest.
    stream.setTimeout(0);
    this.sinks.add(sink);
    respond();
    stream.once('close', () => {
      ended = true;
      this.sinks.delete(sink);
      opened.closed();
    });
  }

  /** A trailers-only response carrying the status. */
  private finish(stream: ServerHttp2Stream, s: GrpcStatus): void {
    if (stream.headersSent || stream.destroyed) return;
    stream.respond({
      ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(s.code), 'grpc-message': encodeMessage(s.details),
    }, { endStream: true });
  }
}
