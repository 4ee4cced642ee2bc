import { POD_PORT_SET } from '../base/contracts/ports.js';
import type net from 'node:net';
import tls from 'node:tls';
import { canonicalIp } from '../base/ip.js';
import type { Logger } from '../telemetry/log.js';
import type { TunnelCert } from './cert-source.js';
import { parseAuthority, type SocketAddress } from './authority.js';
import type { PeerIdentity } from './peer-cert.js';
import { clientIdentity } from './secure-naming.js';
import { ErrorCode, H2Error, H2Session, type H2Headers, type H2Stream } from '../h2/index.js';
import { serverSession } from './h2-settings.js';
import { keepSessionAlive, type KeepaliveTiming } from './keepalive.js';
import { HBONE_ALPN, HBONE_CIPHERSUITES, HBONE_GROUPS, TLS_HANDSHAKE_TIMEOUT_MS } from './tls-config.js';
import { ResetBudget } from './reset-budget.js';
import { presentedChain, recordPeerChain, type RevocationCheck } from './peer-chain.js';

import { denials } from '../../metrics/proxy.js';

/** How long a session ended for rapid reset may finish flushing its GOAWAY before it is destroyed. */
const CALM_GRACE_MS = 1_000;

/**
 * The HBONE server of one pod (port 15008 inside its netns). TLS 1.3 with the pod's certificate,
 * a client certificate is required and must chain to the trust bundle and name a SPIFFE
 * identity in our trust domain. Each CONNECT stream is checked for shape here (400s); whether
 * it may pass and where it goes is the caller's `onStream` (401/503/200).
 */

export interface InboundStream {
  readonly stream: H2Stream;
  readonly peer: PeerIdentity;
  /** TCP peer of the 15008 connection: the source pod (its socket lives in the source netns). */
  readonly source: SocketAddress;
  /** Validated `:authority`: this pod's IP and the application port. */
  readonly target: SocketAddress;
  readonly headers: H2Headers;
  /** Aborted when the client resets or the session dies before the stream is answered. */
  readonly signal: AbortSignal;
}

export interface HboneServerOptions {
  readonly trustDomain: string;
  /**
   * The certificate of the workload served at `localAddress` (the address the peer dialled);
   * awaited before the handshake of each new connection.
   */
  certificate(localAddress: string | undefined): Promise<TunnelCert>;
  trustBundle(): readonly string[];
  onStream(req: InboundStream): void;
  readonly log: Logger;
  /** PING interval and dead-peer deadline; the defaults unless a test needs them short. */
  readonly keepalive?: KeepaliveTiming;
  /** Refuses a client whose chain is revoked. */
  readonly checkRevocation?: RevocationCheck;
}

interface SessionInfo {
  readonly peer: PeerIdentity;
  readonly chain: readonly Buffer[];
  readonly source: SocketAddress;
  readonly localIp: string;
  readonly resets: ResetBudget;
  /** Highest stream id seen: the GOAWAY of a drain names it, so open streams stay valid. */
  lastStream: number;
  /** Ended for rapid reset already: every further reset stream would end it again. */
  calmed: boolean;
}

export class HboneServer {
  private tlsServer: tls.Server | undefined;
  private installed: { cert: TunnelCert; bundle: string } | undefined;
  private readonly sessions = new Map<H2Session, SessionInfo>();
  private readonly pending = new Set<net.Socket>();
  private closed = false;
  private draining = false;

  constructor(private readonly listener: net.Server, private readonly opts: HboneServerOptions) {
    listener.on('connection', (raw: net.Socket) => { void this.accept(raw); });
  }

  private async accept(raw: net.Socket): Promise<void> {
    raw.setNoDelay(true);
    this.pending.add(raw);
    raw.once('close', () => this.pending.delete(raw));
    raw.on('error', () => { /* a peer reset before or during the handshake */ });
    try {
      const server = this.serverFor(await this.opts.certificate(canonicalIp(raw.localAddress ?? '')));
      if (this.closed || raw.destroyed) { raw.destroy(); return; }
      server.emit('connection', raw);
    } catch (err) {
      this.opts.log.warn('hbone connection refused: no certificate for this pod', { error: err, src: raw.remoteAddress });
      raw.destroy();
    }
  }

  private tlsOptions(cert: TunnelCert, bundle: readonly string[]): tls.SecureContextOptions {
    return {
      key: cert.keyPem,
      cert: cert.chainPem.join('\n'),
      ca: bundle.length > 0 ? [...bundle] : [...cert.rootsPem],
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ciphers: HBONE_CIPHERSUITES,
      ecdhCurve: HBONE_GROUPS,
    };
  }

  /** The TLS server with the current certificate installed (rebuilt context on rotation). */
  private serverFor(cert: TunnelCert): tls.Server {
    const bundle = this.opts.trustBundle();
    const bundleKey = bundle.join('');
    if (this.tlsServer && this.installed?.cert === cert && this.installed.bundle === bundleKey) return this.tlsServer;
    const tlsOpts = this.tlsOptions(cert, bundle);
    if (this.tlsServer) {
      this.tlsServer.setSecureContext(tlsOpts);
    } else {
      this.tlsServer = this.createServer(tlsOpts);
    }
    this.installed = { cert, bundle: bundleKey };
    return this.tlsServer;
  }

  private createServer(tlsOpts: tls.SecureContextOptions): tls.Server {
    const server = tls.createServer({
      ...tlsOpts,
      // The chain is checked in onSession (verifiedPeer), before any frame of the session is
      // read. Node verifies a client chain only after the handshake either way, and when it
      // rejects one itself it just closes the socket, leaving no reason to log.
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: HBONE_ALPN,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    });
    server.on('secureConnection', (sock: tls.TLSSocket) => this.onSecure(sock));
    server.on('tlsClientError', (err, sock) => {
      this.opts.log.debug('hbone tls handshake failed', { error: err, src: sock.remoteAddress });
    });
    return server;
  }

  private onSecure(sock: tls.TLSSocket): void {
    sock.on('error', () => { /* a reset after the handshake; the session, when there is one, sees it too */ });
    if (sock.alpnProtocol !== 'h2') {
      this.opts.log.warn('hbone connection refused', { reason: `ALPN ${String(sock.alpnProtocol)} is not h2`, src: sock.remoteAddress });
      sock.destroy();
      return;
    }
    // Read before verifiedPeer: once getPeerX509Certificate() has run, Node's
    // getPeerCertificate(true) returns the leaf without its issuers.
    const chain = presentedChain(sock.getPeerCertificate(true));
    const verified = verifiedPeer(sock, this.opts.trustDomain);
    const peer = typeof verified === 'string' ? verified : this.opts.checkRevocation?.(chain) ?? verified;
    const remote = canonicalIp(sock.remoteAddress ?? '');
    const local = canonicalIp(sock.localAddress ?? '');
    if (typeof peer === 'string' || remote === undefined || local === undefined) {
      this.opts.log.warn('hbone connection refused', { reason: typeof peer === 'string' ? peer : 'no socket address', src: sock.remoteAddress });
      sock.destroy();
      return;
    }
    // Only now is the connection read: no frame of a refused client is ever parsed.
    const session = new H2Session(sock, 'server', serverSession);
    session.on('error', (err) => {
      // A protocol violation ends the session with GOAWAY; socket errors are the peer going away.
      if (err instanceof H2Error) this.opts.log.warn('hbone session closed: http/2 error', { reason: err.message, src: remote, identity: peer.id });
    });
    session.on('stream', (stream: H2Stream, headers: H2Headers) => this.onStream(session, stream, headers));
    recordPeerChain(session, chain);
    const resets = new ResetBudget();
    this.sessions.set(session, { peer, chain, source: { ip: remote, port: sock.remotePort ?? 0 }, localIp: local, resets, lastStream: 0, calmed: false });
    session.once('close', () => this.sessions.delete(session));
    // A handshake that finished after the drain began gets its GOAWAY at once.
    if (this.draining) goAway(session, 0);
    // A peer that stopped answering would not read a GOAWAY either: the session just ends.
    keepSessionAlive(session, () => {
      this.opts.log.warn('hbone session closed: peer stopped answering pings', { src: remote, identity: peer.id });
      session.destroy();
    }, this.opts.keepalive);
  }

  private onStream(session: H2Session, stream: H2Stream, headers: H2Headers): void {
    const info = this.sessions.get(session);
    if (!info) { stream.close(ErrorCode.REFUSED_STREAM); return; }
    info.lastStream = Math.max(info.lastStream, stream.id);
    const controller = new AbortController();
    stream.on('error', () => { /* reset by the peer or the session; handled on close */ });
    stream.once('close', () => {
      controller.abort();
      if (!stream.headersSent && info.resets.spend()) this.calm(session, info);
    });
    const refusal = this.checkShape(headers, info);
    if (typeof refusal === 'string') {
      this.opts.log.debug('hbone stream refused', { status: 400, reason: refusal, src: info.source.ip });
      denials.inc({ direction: 'inbound', reason: 'bad-request' });
      respondError(stream, 400);
      return;
    }
    if (POD_PORT_SET.has(refusal.port)) {
      denials.inc({ direction: 'inbound', reason: 'loop' });
      respondError(stream, 503);
      return;
    }
    try {
      this.opts.onStream({ stream, peer: info.peer, source: info.source, target: refusal, headers, signal: controller.signal });
    } catch (err) {
      this.opts.log.error('hbone stream handler failed', { error: err });
      stream.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Method, pseudo-headers and authority; the target when well-formed, else the reason. */
  private checkShape(headers: H2Headers, info: SessionInfo): SocketAddress | string {
    if (headers[':method'] !== 'CONNECT') return `method ${String(headers[':method'])} is not CONNECT`;
    if (headers[':path'] !== undefined || headers[':scheme'] !== undefined || headers[':protocol'] !== undefined) {
      return 'only authority-form CONNECT is allowed';
    }
    const target = parseAuthority(headers[':authority']);
    if (typeof target === 'string') return target;
    if (target.ip !== info.localIp) return `ip mismatch: authority ${target.ip} is not ${info.localIp}`;
    return target;
  }

  /** Rapid reset (CVE-2023-44487): too many streams reset before an answer ends the session. */
  private calm(session: H2Session, info: SessionInfo): void {
    if (session.destroyed || info.calmed) return;
    info.calmed = true;
    this.opts.log.warn('hbone session closed: too many reset streams', { src: info.source.ip, identity: info.peer.id });
    // Destroying right after goaway() can drop the frame before it is flushed, leaving the peer
    // guessing; close() flushes it and refuses new streams, and the timer bounds what is left.
    session.goaway(ErrorCode.ENHANCE_YOUR_CALM);
    session.close();
    setTimeout(() => session.destroy(), CALM_GRACE_MS).unref();
  }

  /** Tears down at once the sessions whose client chain `check` now refuses; returns how many. */
  closeRevoked(check: RevocationCheck): number {
    let n = 0;
    for (const [session, info] of this.sessions) {
      const why = check(info.chain);
      if (why === undefined) continue;
      this.opts.log.warn('hbone session closed: client certificate revoked', { src: info.source.ip, identity: info.peer.id, why });
      session.destroy();
      n++;
    }
    return n;
  }

  /** Number of live sessions (tests and admin). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Graceful: stops accepting and sends every session a GOAWAY (NO_ERROR), so peers open no
   * new streams on it; open streams continue and the peer closes the connection once they are
   * done. A handshake still in progress gets its GOAWAY as soon as its session exists.
   */
  drain(): void {
    this.draining = true;
    this.closed = true;
    this.listener.close();
    for (const [s, info] of this.sessions) goAway(s, info.lastStream);
  }

  /** Stops accepting and tears down every session and pending handshake at once. */
  close(): void {
    this.closed = true;
    this.listener.close();
    for (const s of this.sessions.keys()) s.destroy();
    for (const raw of this.pending) raw.destroy();
  }
}

/** The client's identity when its chain verified and its leaf is a workload certificate of ours. */
function verifiedPeer(sock: tls.TLSSocket, trustDomain: string): PeerIdentity | string {
  const leaf = sock.getPeerX509Certificate();
  if (!leaf) return 'no client certificate';
  if (!sock.authorized) return `client certificate chain rejected: ${String(sock.authorizationError)}`;
  return clientIdentity(leaf, trustDomain);
}

function goAway(session: H2Session, lastStream: number): void {
  if (!session.destroyed) session.goaway(ErrorCode.NO_ERROR, lastStream);
}

/** Whether a stream can still be answered: not reset, not destroyed, not answered yet. */
export function answerable(stream: H2Stream): boolean {
  return !stream.destroyed && !stream.done && !stream.headersSent;
}

export function respondError(stream: H2Stream, status: number): void {
  if (answerable(stream)) stream.respond({ ':status': String(status) }, { endStream: true });
}
