import type net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { TunnelError, type TunnelErrorCode } from './errors.js';
import { HBONE_ALPN, TLS_HANDSHAKE_TIMEOUT_MS } from './tls-config.js';
import { workloadIdentity } from './peer-cert.js';
import { checkServerName } from './secure-naming.js';
import { ErrorCode, H2Error, H2Session, type H2Headers, type H2Stream } from '../h2/index.js';
import { clientSession } from './h2-settings.js';
import { keepSessionAlive, type KeepaliveTiming } from './keepalive.js';
import { presentedChain, recordPeerChain, type RevocationCheck } from './peer-chain.js';

/**
 * One HBONE client connection: TCP (made by the caller, inside the source pod's netns and
 * marked) → TLS 1.3 with the source identity's certificate and secure naming → HTTP/2. Streams
 * are CONNECT requests; `connect` resolves only once the peer answered 200.
 */
export interface DialOptions {
  /** The TCP connection to `<peer ip>:15008`, already connected. */
  readonly socket: net.Socket;
  readonly peer: string;
  readonly secureContext: tls.SecureContext;
  /** SPIFFE ids the server may present (secure naming). */
  readonly expectedIdentities: readonly string[];
  /** PING interval and dead-peer deadline; the defaults unless a test needs them short. */
  readonly keepalive?: KeepaliveTiming;
  /** Refuses a server whose chain is revoked. */
  readonly checkRevocation?: RevocationCheck;
}

/** Why a verified server leaf is refused: not a workload certificate, or not the one expected. */
function checkServer(leaf: X509Certificate, expected: readonly string[]): { code: TunnelErrorCode; why: string } | undefined {
  const peer = workloadIdentity(leaf, 'server');
  if (typeof peer === 'string') return { code: 'ERR_TUNNEL_PEER_CERT', why: peer };
  const why = checkServerName(peer.id, expected);
  return why === undefined ? undefined : { code: 'ERR_TUNNEL_SECURE_NAMING', why };
}

function tlsHandshake(opts: DialOptions): Promise<{ sock: tls.TLSSocket; chain: Buffer[] }> {
  return new Promise((resolve, reject) => {
    let chain: Buffer[] = [];
    let refusal: { code: TunnelErrorCode; why: string } | undefined;
    const sock = tls.connect({
      socket: opts.socket,
      host: opts.peer,
      secureContext: opts.secureContext,
      ALPNProtocols: HBONE_ALPN,
      rejectUnauthorized: true,
      // No `servername`: HBONE sends no SNI; the server's identity is checked here instead.
      checkServerIdentity: (_host, cert) => {
        refusal = checkServer(new X509Certificate(cert.raw), opts.expectedIdentities);
        // Node passes getPeerCertificate(true), issuers linked, though its typings say less.
        chain = presentedChain(cert as tls.DetailedPeerCertificate);
        const revoked = refusal ? undefined : opts.checkRevocation?.(chain);
        if (revoked !== undefined) refusal = { code: 'ERR_TUNNEL_REVOKED', why: revoked };
        return refusal && new Error(refusal.why);
      },
    });
    const timer = setTimeout(() => sock.destroy(new Error('tls handshake timed out')), TLS_HANDSHAKE_TIMEOUT_MS);
    sock.once('secureConnect', () => {
      clearTimeout(timer);
      if (sock.alpnProtocol !== 'h2') {
        sock.destroy();
        reject(new TunnelError('ERR_TUNNEL_TLS', `hbone peer ${opts.peer} did not negotiate h2`));
        return;
      }
      resolve({ sock, chain });
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(new TunnelError(refusal?.code ?? 'ERR_TUNNEL_TLS', `tls handshake with ${opts.peer} failed: ${refusal?.why ?? err.message}`, { cause: err }));
    });
  });
}

export class HboneConnection {
  private active = 0;
  private goingAway = false;
  private readonly stopKeepalive: () => void;
  /** The peer broke HTTP/2 (a connection error): what a stream waiting for its answer reports. */
  private protocolError: H2Error | undefined;
  /** Called whenever the stream count drops (the pool uses it for idle release). */
  onIdleChange: (() => void) | undefined;

  private constructor(readonly session: H2Session, readonly peer: string, readonly peerChain: readonly Buffer[],
    keepalive: KeepaliveTiming | undefined) {
    session.on('goaway', () => { this.goingAway = true; });
    session.on('error', (err) => {
      this.goingAway = true;
      if (err instanceof H2Error) this.protocolError = err;
    });
    session.on('close', () => { this.goingAway = true; });
    this.stopKeepalive = keepSessionAlive(session, () => session.destroy(new Error('hbone keepalive timed out')), keepalive);
  }

  static async dial(opts: DialOptions): Promise<HboneConnection> {
    const { sock, chain } = await tlsHandshake(opts);
    const session = new H2Session(sock, 'client', clientSession);
    session.unref();
    recordPeerChain(session, chain);
    return new HboneConnection(session, opts.peer, chain, opts.keepalive);
  }

  get streams(): number {
    return this.active;
  }

  /** Whether new streams may still be opened (no GOAWAY, no error, not closed). */
  get usable(): boolean {
    return !this.goingAway && !this.session.closed && !this.session.destroyed;
  }

  /** Whether one more stream fits: under `max` and under the peer's own concurrency limit. */
  hasRoom(max: number): boolean {
    return this.active < Math.min(max, this.session.remoteMaxStreams);
  }

  /** Stops new streams; existing ones finish, then the session closes. */
  retire(): void {
    this.goingAway = true;
    if (!this.session.closed) this.session.close();
  }

  destroy(): void {
    this.stopKeepalive();
    this.session.destroy();
  }

  private closedBeforeResponse(stream: H2Stream, authority: string): TunnelError {
    // The peer (or its GOAWAY) refused the stream unprocessed, so it may be tried again.
    if (stream.rstCode === ErrorCode.REFUSED_STREAM) {
      return new TunnelError('ERR_TUNNEL_REFUSED', `hbone peer refused the stream to ${authority} before processing it (REFUSED_STREAM)`);
    }
    if (this.protocolError) {
      return new TunnelError('ERR_TUNNEL_H2', `http/2 with ${this.peer} failed: ${this.protocolError.message}`, { cause: this.protocolError });
    }
    return new TunnelError('ERR_TUNNEL_CLOSED', `hbone stream to ${authority} closed before a response (code ${stream.rstCode ?? 0})`);
  }

  /** Opens a CONNECT stream and waits for the peer's 200; any other answer is a TunnelError. */
  connect(authority: string, headers: H2Headers): Promise<H2Stream> {
    let stream: H2Stream;
    try {
      stream = this.session.request({ ':method': 'CONNECT', ':authority': authority, ...headers });
    } catch (err) {
      // The session took no new stream (it is going away, or out of stream ids): nothing was sent.
      this.goingAway = true;
      return Promise.reject(new TunnelError('ERR_TUNNEL_REFUSED', `hbone connection to ${this.peer} takes no new streams`, { cause: err }));
    }
    this.active++;
    stream.once('close', () => {
      this.active--;
      this.onIdleChange?.();
    });
    return new Promise((resolve, reject) => {
      const onClose = () => reject(this.closedBeforeResponse(stream, authority));
      stream.once('close', onClose);
      stream.on('error', () => { /* reported through 'close'; later ones are the relay's to handle */ });
      stream.once('response', (res: H2Headers) => {
        stream.off('close', onClose);
        const status = Number(res[':status']);
        if (status === 200) { resolve(stream); return; }
        stream.close(ErrorCode.CANCEL);
        reject(new TunnelError('ERR_TUNNEL_STATUS', `hbone peer answered ${status} for ${authority}`, { status }));
      });
    });
  }
}
