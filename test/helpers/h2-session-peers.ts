import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { H2Session, type H2Headers, type H2Stream } from '../../agent/h2/index.js';
import { clientSession, serverSession } from '../../agent/tunnel/h2-settings.js';
import { eventually } from './eventually.js';
import { CLIENT_PREFACE, emptySettings, frame } from './h2-frames.js';

/**
 * Peers for the HTTP/2 session tests over loopback TCP: our server and client with the production
 * settings, and a hand-driven peer that writes given bytes and parses every frame it gets back.
 * Codes and types are RFC 9113's numbers, written out here rather than imported, so a wrong
 * constant in the implementation cannot agree with itself.
 */
export const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const E = { NO_ERROR: 0, PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 };
export const MiB = 1024 * 1024;
export const CONNECT: [string, string][] = [[':method', 'CONNECT'], [':authority', '1.2.3.4:80']];
export const START = [CLIENT_PREFACE, emptySettings()];

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const u32 = (...values: number[]): Buffer => Buffer.concat(values.map((v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; }));
export const ping = (payload: Buffer, flags = 0): Buffer => frame(T.PING, flags, 0, payload);
export const settings = (entries: Array<[number, number]>): Buffer =>
  frame(T.SETTINGS, 0, 0, Buffer.concat(entries.map(([id, v]) => { const b = Buffer.alloc(6); b.writeUInt16BE(id); b.writeUInt32BE(v, 2); return b; })));

export interface Frame { type: number; flags: number; stream: number; payload: Buffer }

export class FrameParser {
  readonly frames: Frame[] = [];
  private rest = Buffer.alloc(0);
  feed(chunk: Buffer): void {
    this.rest = Buffer.concat([this.rest, chunk]);
    while (this.rest.length >= 9) {
      const len = this.rest.readUIntBE(0, 3);
      if (this.rest.length < 9 + len) return;
      const b = this.rest;
      this.frames.push({ type: b[3]!, flags: b[4]!, stream: b.readUInt32BE(5) & 0x7fffffff, payload: b.subarray(9, 9 + len) });
      this.rest = b.subarray(9 + len);
    }
  }
}

/** A hand-driven peer: writes what it is given and parses every frame the other side sends. */
export class RawPeer {
  private readonly parser = new FrameParser();
  readonly frames = this.parser.frames;
  /** The server's FIN arrived (our side never ends first). */
  ended = false;
  /** `skip`: leading bytes that are no frame (a client's preface, when this peer is a server). */
  constructor(readonly sock: net.Socket, skip = 0) {
    sock.on('data', (c: Buffer) => {
      const n = Math.min(skip, c.length);
      skip -= n;
      this.parser.feed(c.subarray(n));
    });
    sock.on('end', () => { this.ended = true; });
  }
  send(...parts: Buffer[]): void { this.sock.write(Buffer.concat(parts)); }
  find(pred: (f: Frame) => boolean, what: string, timeoutMs = 5000): Promise<Frame> {
    return eventually(() => {
      const f = this.frames.find(pred);
      if (!f) throw new Error(`no ${what}; the server sent ${this.frames.map((x) => `${x.type}/${x.flags}/${x.stream}`).join(' ') || 'nothing'}`);
      return f;
    }, timeoutMs);
  }
  /** A PING round trip: the server has handled everything written before it. */
  async sync(): Promise<void> {
    const key = randomBytes(8);
    this.send(ping(key));
    await this.find((f) => f.type === T.PING && (f.flags & ACK) !== 0 && f.payload.equals(key), 'PING ACK');
  }
  rst(stream: number): Frame | undefined { return this.frames.find((f) => f.type === T.RST_STREAM && f.stream === stream); }
  goaway(): Frame | undefined { return this.frames.find((f) => f.type === T.GOAWAY); }
}

/** Loopback TCP server; every accepted socket and the server are closed at teardown. */
export async function listen(t: ExecutionContext, onSocket: (s: net.Socket) => void): Promise<number> {
  const socks = new Set<net.Socket>();
  // As hbone-server does: without it, Nagle and delayed ACKs add ~40 ms to each small exchange.
  const server = net.createServer({ noDelay: true }, (s) => { socks.add(s); s.on('close', () => socks.delete(s)); onSocket(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of socks) s.destroy(); server.close(); });
  return (server.address() as net.AddressInfo).port;
}

export async function dial(t: ExecutionContext, port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  await once(s, 'connect');
  return s;
}

export interface Served { port: number; sessions: H2Session[]; streams: Array<{ stream: H2Stream; headers: H2Headers }> }

/** Our server session on every accepted socket, with the production options. */
export async function ourServer(t: ExecutionContext, onStream?: (s: H2Stream, h: H2Headers) => void): Promise<Served> {
  const served: Served = { port: 0, sessions: [], streams: [] };
  served.port = await listen(t, (sock) => {
    const session = new H2Session(sock, 'server', serverSession);
    session.on('error', () => {});
    session.on('stream', (stream: H2Stream, headers: H2Headers) => {
      // Stream errors are asserted through rstCode and the wire, not through this event.
      stream.on('error', () => {});
      served.streams.push({ stream, headers });
      onStream?.(stream, headers);
    });
    served.sessions.push(session);
  });
  return served;
}

export async function ourClient(t: ExecutionContext, port: number): Promise<H2Session> {
  const session = new H2Session(await dial(t, port), 'client', clientSession);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  return session;
}

export const echoing = (s: H2Stream): void => { s.respond({ ':status': '200' }); s.pipe(s); };

/** Our server and a raw peer that has already seen the server's SETTINGS (so it may use 1 MiB frames). */
export async function raw(t: ExecutionContext) {
  const srv = await ourServer(t);
  const peer = new RawPeer(await dial(t, srv.port));
  await eventually(() => { if (srv.sessions.length !== 1) throw new Error('no server session'); });
  await peer.find((f) => f.type === T.SETTINGS && (f.flags & ACK) === 0, 'server SETTINGS');
  return { peer, session: srv.sessions[0]!, streams: srv.streams };
}

export function collect(s: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

/** Writes `data` honouring backpressure; `progress.written` counts what write() accepted. */
export async function writeAll(s: Duplex, data: Buffer, progress = { written: 0 }, chunk = 64 * 1024): Promise<void> {
  for (let at = 0; at < data.length; at += chunk) {
    const piece = data.subarray(at, at + chunk);
    progress.written += piece.length;
    if (!s.write(piece)) await once(s, 'drain');
  }
}

export async function roundTrip(s: Duplex, data: Buffer): Promise<Buffer> {
  const back = collect(s);
  await writeAll(s, data);
  s.end();
  return back;
}

export const closed = (s: H2Stream): Promise<number | undefined> => new Promise((r) => s.once('close', () => r(s.rstCode)));
