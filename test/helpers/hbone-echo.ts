import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import net from 'node:net';
import tls from 'node:tls';
import { currentNetns } from '../../agent/net/index.js';
import { relay } from '../../agent/proxy/relay.js';
import { createLogger, type Logger } from '../../agent/telemetry/log.js';
import type { TunnelCert } from '../../agent/tunnel/cert-source.js';
import { HboneConnection } from '../../agent/tunnel/hbone-connection.js';
import { HboneServer, respondError, type InboundStream } from '../../agent/tunnel/hbone-server.js';
import type { KeepaliveTiming } from '../../agent/tunnel/keepalive.js';
import { secureContextFor } from '../../agent/tunnel/tls-config.js';
import { startEchoServer } from './sockets.js';

/**
 * An HBONE server on loopback (trust domain cluster.local) whose streams go to a real echo
 * server, and a dialler for it: the two ends of the tunnel tests, with real TLS and HTTP/2.
 */
export interface EchoHbone {
  readonly server: HboneServer;
  readonly port: number;
  readonly echoPort: number;
  readonly streams: InboundStream[];
  close(): void;
}

export interface EchoHboneOptions {
  readonly cert: TunnelCert;
  readonly rootPem: string;
  readonly host?: string;
  readonly log?: Logger;
  readonly keepalive?: KeepaliveTiming;
}

export async function echoHbone(opts: EchoHboneOptions): Promise<EchoHbone> {
  const host = opts.host ?? '127.0.0.1';
  const echo = await startEchoServer(host);
  const listener = await currentNetns().listen(0, { host });
  const streams: InboundStream[] = [];
  const server = new HboneServer(listener, {
    trustDomain: 'cluster.local',
    certificate: async () => opts.cert,
    trustBundle: () => [opts.rootPem],
    log: opts.log ?? createLogger('test'),
    keepalive: opts.keepalive,
    onStream: (req) => {
      streams.push(req);
      const upstream = net.connect(req.target.port, req.target.ip, () => {
        req.stream.respond({ ':status': '200' });
        void relay(req.stream, upstream);
      });
      upstream.on('error', () => respondError(req.stream, 503));
    },
  });
  return {
    server, streams,
    port: (listener.address() as net.AddressInfo).port,
    echoPort: (echo.address() as net.AddressInfo).port,
    close: () => { server.close(); echo.close(); },
  };
}

export interface DialTo {
  readonly port: number;
  readonly cert: TunnelCert;
  readonly rootPem: string;
  readonly expected: readonly string[];
  readonly host?: string;
  readonly keepalive?: KeepaliveTiming;
}

export async function dialHbone(to: DialTo): Promise<HboneConnection> {
  const host = to.host ?? '127.0.0.1';
  const socket = await currentNetns().connect(host, to.port);
  return HboneConnection.dial({
    socket, peer: host.includes(':') ? `[${host}]:${to.port}` : `${host}:${to.port}`,
    secureContext: secureContextFor(to.cert, [to.rootPem]), expectedIdentities: to.expected, keepalive: to.keepalive,
  });
}

/** A raw TLS + HTTP/2 client with any (or no) client certificate, for adversarial cases. */
export function rawH2Session(port: number, rootPem: string, cert?: TunnelCert): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    createConnection: () => tls.connect({
      host: '127.0.0.1', port, ALPNProtocols: ['h2'], ca: [rootPem],
      checkServerIdentity: () => undefined,
      ...(cert ? { key: cert.keyPem, cert: cert.chainPem.join('\n') } : {}),
    }),
  });
  session.on('error', () => {});
  return session;
}

/** The status a request is answered with, or how its stream failed. */
export function statusOf(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<number | string> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: false });
    req.on('response', (h) => resolve(Number(h[':status'])));
    req.on('error', (e) => resolve(e.message));
    req.on('close', () => resolve(`closed ${req.rstCode}`));
  });
}

/** Writes `text` on a tunnelled stream and resolves with the first chunk echoed back. */
export function echoOnce(stream: Duplex, text: string): Promise<string> {
  const got = new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
  stream.write(text);
  return got;
}
