import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { H2Session, type H2Headers, type H2Stream } from '../../agent/h2/index.js';
import { clientSession, serverSession } from '../../agent/tunnel/h2-settings.js';
import { eventually } from '../helpers/eventually.js';
import { CLIENT_PREFACE, emptySettings, frame, headerBlock, literalBlock } from '../helpers/h2-frames.js';

/**
 * The HTTP/2 session of the HBONE data path over loopback TCP: against itself, against
 * hand-made frames (every connection and stream error is read back off the wire), and against
 * Node's http2 (nghttp2) in both roles. Codes and types are RFC 9113's numbers, written out here
 * rather than imported, so a wrong constant in the implementation cannot agree with itself.
 */
const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
const ACK = 0x1;
const END_HEADERS = 0x4;
const E = { NO_ERROR: 0, PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 };
const MiB = 1024 * 1024;
const CONNECT: [string, string][] = [[':method', 'CONNECT'], [':authority', '1.2.3.4:80']];
const START = [CLIENT_PREFACE, emptySettings()];

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const u32 = (...values: number[]): Buffer => Buffer.concat(values.map((v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; }));
const ping = (payload: Buffer, flags = 0): Buffer => frame(T.PING, flags, 0, payload);
const settings = (entries: Array<[number, number]>): Buffer =>
  frame(T.SETTINGS, 0, 0, Buffer.concat(entries.map(([id, v]) => { const b = Buffer.alloc(6); b.writeUInt16BE(id); b.writeUInt32BE(v, 2); return b; })));

interface Frame { type: number; flags: number; stream: number; payload: Buffer }

class FrameParser {
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
class RawPeer {
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
async function listen(t: ExecutionContext, onSocket: (s: net.Socket) => void): Promise<number> {
  const socks = new Set<net.Socket>();
  // As hbone-server does: without it, Nagle and delayed ACKs add ~40 ms to each small exchange.
  const server = net.createServer({ noDelay: true }, (s) => { socks.add(s); s.on('close', () => socks.delete(s)); onSocket(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of socks) s.destroy(); server.close(); });
  return (server.address() as net.AddressInfo).port;
}

async function dial(t: ExecutionContext, port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  await once(s, 'connect');
  return s;
}

interface Served { port: number; sessions: H2Session[]; streams: Array<{ stream: H2Stream; headers: H2Headers }> }

/** Our server session on every accepted socket, with the production options. */
async function ourServer(t: ExecutionContext, onStream?: (s: H2Stream, h: H2Headers) => void): Promise<Served> {
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

async function ourClient(t: ExecutionContext, port: number): Promise<H2Session> {
  const session = new H2Session(await dial(t, port), 'client', clientSession);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  return session;
}

const echoing = (s: H2Stream): void => { s.respond({ ':status': '200' }); s.pipe(s); };

/** Our server and a raw peer that has already seen the server's SETTINGS (so it may use 1 MiB frames). */
async function raw(t: ExecutionContext) {
  const srv = await ourServer(t);
  const peer = new RawPeer(await dial(t, srv.port));
  await eventually(() => { if (srv.sessions.length !== 1) throw new Error('no server session'); });
  await peer.find((f) => f.type === T.SETTINGS && (f.flags & ACK) === 0, 'server SETTINGS');
  return { peer, session: srv.sessions[0]!, streams: srv.streams };
}

function collect(s: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

/** Writes `data` honouring backpressure; `progress.written` counts what write() accepted. */
async function writeAll(s: Duplex, data: Buffer, progress = { written: 0 }, chunk = 64 * 1024): Promise<void> {
  for (let at = 0; at < data.length; at += chunk) {
    const piece = data.subarray(at, at + chunk);
    progress.written += piece.length;
    if (!s.write(piece)) await once(s, 'drain');
  }
}

async function roundTrip(s: Duplex, data: Buffer): Promise<Buffer> {
  const back = collect(s);
  await writeAll(s, data);
  s.end();
  return back;
}

const closed = (s: H2Stream): Promise<number | undefined> => new Promise((r) => s.once('close', () => r(s.rstCode)));

// ---- A. our client and our server -------------------------------------------------------------

test('A: CONNECT round trip of 8 MB each way on one stream; END_STREAM both ways closes both streams with NO_ERROR', async (t) => {
  const serverClosed: Array<Promise<number | undefined>> = [];
  const srv = await ourServer(t, (s) => { serverClosed.push(closed(s)); echoing(s); });
  const client = await ourClient(t, srv.port);
  const stream = client.request({ ':method': 'CONNECT', ':authority': '1.2.3.4:80' });
  const clientClosed = closed(stream);
  const [response] = await once(stream, 'response') as [H2Headers];
  t.is(response[':status'], '200');
  t.is(srv.streams[0]!.headers[':method'], 'CONNECT');
  t.is(srv.streams[0]!.headers[':authority'], '1.2.3.4:80');
  const data = randomBytes(8 * MiB);
  const back = await roundTrip(stream, data);
  t.is(back.length, data.length);
  t.is(sha(back), sha(data));
  t.is(await clientClosed, E.NO_ERROR);
  t.is(await serverClosed[0], E.NO_ERROR);
  t.is(client.streams.size, 0);
  t.is(srv.sessions[0]!.streams.size, 0);
});

test('A: 20 concurrent streams of 256 KB each arrive intact', async (t) => {
  const srv = await ourServer(t, echoing);
  const client = await ourClient(t, srv.port);
  const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const s = client.request({ ':method': 'CONNECT', ':authority': `10.0.0.${i}:80` });
    const data = randomBytes(256 * 1024);
    const back = await roundTrip(s, data);
    return sha(back) === sha(data) && back.length === data.length;
  }));
  t.deepEqual(results, Array(20).fill(true));
  await eventually(() => { if (client.streams.size !== 0 || srv.sessions[0]!.streams.size !== 0) throw new Error('streams left'); });
});

test('A: 24 long-lived streams of 900 KB each (21.6 MB in all, past the 16 MiB connection window) all arrive while every stream stays open', async (t) => {
  const per = 900 * 1024;
  const got = new Map<number, number>();
  const srv = await ourServer(t, (s) => {
    s.respond({ ':status': '200' });
    s.on('data', (c: Buffer) => got.set(s.id, (got.get(s.id) ?? 0) + c.length));
  });
  const client = await ourClient(t, srv.port);
  const streams = Array.from({ length: 24 }, (_, i) => client.request({ ':method': 'CONNECT', ':authority': `10.0.1.${i}:80` }));
  // Not awaited: a write stalled on flow control would hang the test instead of failing it.
  for (const s of streams) void once(s, 'response').then(() => writeAll(s, randomBytes(per))).catch(() => {});
  // No stream is ended: each holds less than a stream credit step, as a long-lived idle tunnel does.
  const total = () => [...got.values()].reduce((a, b) => a + b, 0);
  await t.notThrowsAsync(eventually(() => {
    if (total() !== 24 * per) throw new Error(`server has ${total()} of ${24 * per} bytes`);
  }, 5000));
});

// ---- B. flow control and backpressure ---------------------------------------------------------

test('B: a server stream that is not read holds the client to its window; reading resumes the transfer intact', async (t) => {
  const srv = await ourServer(t, (s) => { s.respond({ ':status': '200' }); s.pause(); });
  const client = await ourClient(t, srv.port);
  const stream = client.request({ ':method': 'CONNECT', ':authority': '1.2.3.4:80' });
  await once(stream, 'response');
  const data = randomBytes(32 * MiB);
  const progress = { written: 0 };
  const writing = writeAll(stream, data, progress).then(() => stream.end());
  await new Promise((r) => setTimeout(r, 1000));
  const serverSock = srv.sessions[0]!.socket;
  t.true(serverSock.bytesRead <= 5 * MiB, `server socket read ${serverSock.bytesRead} bytes`);
  t.true(serverSock.bytesRead >= 4 * MiB, `server socket read only ${serverSock.bytesRead} bytes: the 4 MiB window was not used`);
  t.true(progress.written < 5 * MiB, `client write() accepted ${progress.written} bytes`);
  const received = collect(srv.streams[0]!.stream);
  srv.streams[0]!.stream.resume();
  const back = await received;
  await writing;
  t.is(back.length, data.length);
  t.is(sha(back), sha(data));
});

// ---- C. connection errors: GOAWAY with the code, then the server closes the socket -----------

function connectionError(title: string, c: { preface?: Buffer[]; ok?: Buffer[]; bad: Buffer[]; code: number; last?: number }): void {
  test(`C: ${title}`, async (t) => {
    const { peer, session, streams } = await raw(t);
    peer.send(...(c.preface ?? START));
    if (c.ok) {
      // The limit's own value is accepted: the error below comes from crossing it, not from the frames.
      peer.send(...c.ok);
      await peer.sync();
      t.is(peer.goaway(), undefined, 'GOAWAY before the limit was crossed');
    }
    peer.send(...c.bad);
    const g = await peer.find((f) => f.type === T.GOAWAY, 'GOAWAY');
    t.is(g.stream, 0);
    t.is(g.payload.readUInt32BE(4), c.code, 'GOAWAY error code');
    t.is(g.payload.readUInt32BE(0) & 0x7fffffff, c.last ?? 0, 'GOAWAY last stream id');
    await eventually(() => { if (!peer.ended) throw new Error('the server did not close the socket'); }, 3000);
    t.is(peer.frames.at(-1), g, 'frames after GOAWAY');
    t.true(session.destroyed);
    if (c.last === undefined) t.is(streams.length, 0);
  });
}

connectionError('first frame after the preface is a PING, not SETTINGS → PROTOCOL_ERROR', {
  preface: [CLIENT_PREFACE], bad: [ping(Buffer.alloc(8))], code: E.PROTOCOL_ERROR,
});
connectionError('a frame announcing 2 MiB (max 1 MiB) → FRAME_SIZE_ERROR', {
  // An unknown frame type of exactly the maximum is ignored (RFC 9113 §4.1, §4.2).
  ok: [frame(0xfa, 0, 0, Buffer.alloc(MiB))],
  bad: [Buffer.from([0x20, 0x00, 0x00, T.HEADERS, END_HEADERS, 0, 0, 0, 1])], code: E.FRAME_SIZE_ERROR,
});
connectionError('DATA on idle stream 5 → PROTOCOL_ERROR', { bad: [frame(T.DATA, 0, 5, Buffer.from('x'))], code: E.PROTOCOL_ERROR });
connectionError('connection WINDOW_UPDATE past 2^31-1 → FLOW_CONTROL_ERROR', {
  ok: [frame(T.WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1 - 65_535))],
  bad: [frame(T.WINDOW_UPDATE, 0, 0, u32(1))], code: E.FLOW_CONTROL_ERROR,
});
connectionError('WINDOW_UPDATE of 0 on stream 0 → PROTOCOL_ERROR', { bad: [frame(T.WINDOW_UPDATE, 0, 0, u32(0))], code: E.PROTOCOL_ERROR });
connectionError('PUSH_PROMISE from a client → PROTOCOL_ERROR', {
  ok: [headerBlock(1, CONNECT)],
  bad: [frame(T.PUSH_PROMISE, END_HEADERS, 1, Buffer.concat([u32(2), literalBlock(CONNECT)]))], code: E.PROTOCOL_ERROR, last: 1,
});
connectionError('PING between HEADERS (no END_HEADERS) and its CONTINUATION → PROTOCOL_ERROR', {
  bad: [
    frame(T.HEADERS, 0, 1, literalBlock(CONNECT).subarray(0, 10)),
    ping(Buffer.alloc(8)),
    frame(T.CONTINUATION, END_HEADERS, 1, literalBlock(CONNECT).subarray(10)),
  ],
  code: E.PROTOCOL_ERROR,
});
connectionError('HPACK indexed field 0 → COMPRESSION_ERROR', { bad: [frame(T.HEADERS, END_HEADERS, 1, Buffer.from([0x80]))], code: E.COMPRESSION_ERROR });
connectionError('HPACK index 127, beyond the static and the empty dynamic table → COMPRESSION_ERROR', {
  bad: [frame(T.HEADERS, END_HEADERS, 1, Buffer.from([0xff, 0x00]))], code: E.COMPRESSION_ERROR,
});
connectionError('101 empty DATA frames without END_STREAM on an open stream → ENHANCE_YOUR_CALM', {
  ok: [headerBlock(1, CONNECT), ...Array.from({ length: 100 }, () => frame(T.DATA, 0, 1))],
  bad: [frame(T.DATA, 0, 1)], code: E.ENHANCE_YOUR_CALM, last: 1,
});
connectionError('SETTINGS with 33 entries (limit 32) → ENHANCE_YOUR_CALM', {
  ok: [settings(Array.from({ length: 32 }, () => [0x6, 65_536] as [number, number]))],
  bad: [settings(Array.from({ length: 33 }, () => [0x6, 65_536] as [number, number]))], code: E.ENHANCE_YOUR_CALM,
});

test('C: an HTTP/1.1 request instead of the preface: the socket is closed, no stream', async (t) => {
  const { peer, session, streams } = await raw(t);
  peer.send(Buffer.from('GET / HTTP/1.1\r\nHost: 1.2.3.4\r\n\r\n', 'latin1'));
  await eventually(() => { if (!peer.ended) throw new Error('the server did not close the socket'); }, 3000);
  t.true(session.destroyed);
  t.is(streams.length, 0);
  // A GOAWAY may be omitted here (RFC 9113 §3.4); if one is sent it must say PROTOCOL_ERROR.
  const g = peer.goaway();
  if (g) t.is(g.payload.readUInt32BE(4), E.PROTOCOL_ERROR);
});

// ---- D. stream errors: RST_STREAM on that stream, the session goes on ------------------------

async function expectReset(t: ExecutionContext, h: Awaited<ReturnType<typeof raw>>, id: number, code: number, nextId: number): Promise<void> {
  const r = await h.peer.find((f) => f.type === T.RST_STREAM && f.stream === id, `RST_STREAM on stream ${id}`);
  t.is(r.payload.readUInt32BE(0), code, 'RST_STREAM error code');
  h.peer.send(headerBlock(nextId, CONNECT));
  await eventually(() => { if (!h.streams.some((s) => s.stream.id === nextId)) throw new Error(`no stream event for ${nextId}`); });
  t.is(h.peer.goaway(), undefined);
  t.false(h.session.destroyed);
}

test('D: an uppercase header name → RST_STREAM PROTOCOL_ERROR, no stream event', async (t) => {
  const h = await raw(t);
  h.peer.send(...START, headerBlock(1, [...CONNECT, ['X-Upper', '1']]));
  await expectReset(t, h, 1, E.PROTOCOL_ERROR, 3);
  t.deepEqual(h.streams.map((s) => s.stream.id), [3]);
});

test('D: connection: close → RST_STREAM PROTOCOL_ERROR, no stream event', async (t) => {
  const h = await raw(t);
  h.peer.send(...START, headerBlock(1, [...CONNECT, ['connection', 'close']]));
  await expectReset(t, h, 1, E.PROTOCOL_ERROR, 3);
  t.deepEqual(h.streams.map((s) => s.stream.id), [3]);
});

test('D: DATA past the 4 MiB stream window → RST_STREAM FLOW_CONTROL_ERROR', async (t) => {
  const h = await raw(t);
  h.peer.send(...START, headerBlock(1, CONNECT), ...Array.from({ length: 4 }, () => frame(T.DATA, 0, 1, Buffer.alloc(MiB))));
  await h.peer.sync();
  t.is(h.peer.rst(1), undefined, 'exactly the window was refused');
  t.false(h.peer.frames.some((f) => f.type === T.WINDOW_UPDATE && f.stream === 1), 'window credited for data nobody read');
  h.peer.send(frame(T.DATA, 0, 1, Buffer.from('x')));
  await expectReset(t, h, 1, E.FLOW_CONTROL_ERROR, 3);
  t.is(h.streams[0]!.stream.rstCode, E.FLOW_CONTROL_ERROR);
});

test('D: a second HEADERS on an open CONNECT stream → RST_STREAM PROTOCOL_ERROR', async (t) => {
  const h = await raw(t);
  h.peer.send(...START, headerBlock(1, CONNECT));
  await h.peer.sync();
  t.is(h.streams.length, 1);
  h.peer.send(headerBlock(1, [['x-again', '1']]));
  await expectReset(t, h, 1, E.PROTOCOL_ERROR, 3);
  t.is(h.streams[0]!.stream.rstCode, E.PROTOCOL_ERROR);
});

test('D: the 201st concurrent stream → RST_STREAM REFUSED_STREAM; once one closes, a new one is served', async (t) => {
  const h = await raw(t);
  h.peer.send(...START, ...Array.from({ length: 201 }, (_, i) => headerBlock(2 * i + 1, CONNECT)));
  await h.peer.sync();
  t.is(h.streams.length, 200);
  t.deepEqual(h.peer.frames.filter((f) => f.type === T.RST_STREAM).map((f) => [f.stream, f.payload.readUInt32BE(0)]), [[401, E.REFUSED_STREAM]]);
  h.peer.send(frame(T.RST_STREAM, 0, 1, u32(E.CANCEL)));
  await h.peer.sync();
  await expectReset(t, h, 401, E.REFUSED_STREAM, 403);
  t.is(h.streams.length, 201);
});

// ---- E. PING and SETTINGS acknowledgements ----------------------------------------------------

test('E: PING is answered with a PING ACK of the same 8 bytes; SETTINGS with an empty SETTINGS ACK', async (t) => {
  const { peer } = await raw(t);
  const payload = Buffer.from('0123abcd', 'latin1');
  peer.send(...START, ping(payload), settings([[0x4, MiB]]));
  const ack = await peer.find((f) => f.type === T.PING && (f.flags & ACK) !== 0, 'PING ACK');
  t.is(ack.stream, 0);
  t.true(ack.payload.equals(payload));
  const acks = await eventually(() => {
    const a = peer.frames.filter((f) => f.type === T.SETTINGS && (f.flags & ACK) !== 0);
    if (a.length < 2) throw new Error(`${a.length} SETTINGS ACKs`);
    return a;
  });
  t.deepEqual(acks.map((f) => [f.stream, f.payload.length]), [[0, 0], [0, 0]]);
});

// ---- F. interop with Node's http2 (nghttp2) ---------------------------------------------------

test('F: Node http2 client → our server: 50 CONNECTs with the same custom headers (HPACK dynamic table and Huffman), echo, GOAWAY', async (t) => {
  // What nghttp2 actually sent, so the test knows its premise (indexing, Huffman) held.
  const blocks: Buffer[] = [];
  const srv = await ourServer(t, echoing);
  const port = srv.port;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await once(client, 'connect');
  await eventually(() => { if (srv.sessions.length !== 1) throw new Error('no server session'); });
  const tap = new FrameParser();
  let skip = CLIENT_PREFACE.length;
  srv.sessions[0]!.socket.on('data', (c: Buffer) => { const n = Math.min(skip, c.length); skip -= n; tap.feed(c.subarray(n)); });
  const custom = {
    'x-forwarded-for': '10.11.12.13',
    baggage: 'k8s.namespace.name=default,k8s.pod.name=client-7d9f8b6c5-x2v4q',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  };
  for (let i = 0; i < 50; i++) {
    const req = client.request({ ':method': 'CONNECT', ':authority': '10.0.0.7:8080', ...custom });
    const [headers] = await once(req, 'response') as [http2.IncomingHttpHeaders];
    t.is(Number(headers[':status']), 200);
    const data = randomBytes(1000 + i);
    const back = await roundTrip(req, data);
    t.true(back.equals(data), `echo ${i}`);
  }
  for (const f of tap.frames) if (f.type === T.HEADERS) blocks.push(f.payload);
  t.is(blocks.length, 50);
  t.true(blocks.at(-1)!.length < blocks[0]!.length / 4, `header blocks of ${blocks[0]!.length} then ${blocks.at(-1)!.length} bytes: no dynamic table`);
  t.is(srv.streams.length, 50);
  const first = { ...srv.streams[0]!.headers };
  t.like(first, { ':method': 'CONNECT', ':authority': '10.0.0.7:8080', ...custom });
  for (const s of srv.streams) t.deepEqual({ ...s.headers }, first);
  const goaway = once(client, 'goaway') as Promise<[number, number]>;
  srv.sessions[0]!.goaway();
  const [code, last] = await goaway;
  t.is(code, http2.constants.NGHTTP2_NO_ERROR);
  t.is(last, 99);
});

test('F: our client → Node http2 server: 1 MB echo, a 403 answer, and a REFUSED_STREAM reset', async (t) => {
  const server = http2.createServer();
  const nodeSessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { nodeSessions.add(s); s.on('error', () => {}); });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const authority = headers[':authority'];
    if (headers[':method'] !== 'CONNECT') stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    else if (authority === 'deny.test:80') stream.respond({ ':status': 403 }, { endStream: true });
    else if (authority === 'refuse.test:80') stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    else { stream.respond({ ':status': 200 }); stream.pipe(stream); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of nodeSessions) s.destroy(); server.close(); });
  const client = await ourClient(t, (server.address() as net.AddressInfo).port);

  const echo = client.request({ ':method': 'CONNECT', ':authority': '1.2.3.4:80' });
  const echoClosed = closed(echo);
  const [ok] = await once(echo, 'response') as [H2Headers];
  t.is(ok[':status'], '200');
  const data = randomBytes(MiB);
  const back = await roundTrip(echo, data);
  t.is(sha(back), sha(data));
  t.is(await echoClosed, E.NO_ERROR);

  const deny = client.request({ ':method': 'CONNECT', ':authority': 'deny.test:80' });
  deny.on('error', () => {});
  const [denied] = await once(deny, 'response') as [H2Headers];
  t.is(denied[':status'], '403');

  const refuse = client.request({ ':method': 'CONNECT', ':authority': 'refuse.test:80' });
  refuse.on('error', () => {});
  t.is(await closed(refuse), E.REFUSED_STREAM);
  t.false(client.destroyed);
});

// ---- G. a request crossing our GOAWAY ---------------------------------------------------------

test('G: after goaway(0, 1) a new stream 3 is refused with RST_STREAM REFUSED_STREAM and never emitted', async (t) => {
  const h = await raw(t);
  h.peer.send(...START, headerBlock(1, CONNECT));
  await h.peer.sync();
  t.is(h.streams.length, 1);
  h.session.goaway(0, 1);
  const g = await h.peer.find((f) => f.type === T.GOAWAY, 'GOAWAY');
  t.deepEqual([g.payload.readUInt32BE(0), g.payload.readUInt32BE(4)], [1, E.NO_ERROR]);
  h.peer.send(headerBlock(3, CONNECT));
  const r = await h.peer.find((f) => f.type === T.RST_STREAM && f.stream === 3, 'RST_STREAM on stream 3');
  t.is(r.payload.readUInt32BE(0), E.REFUSED_STREAM);
  await h.peer.sync();
  t.deepEqual(h.streams.map((s) => s.stream.id), [1]);
  // The stream below the GOAWAY is still served.
  const got = collect(h.streams[0]!.stream);
  h.peer.send(frame(T.DATA, 0x1, 1, Buffer.from('still open')));
  t.is((await got).toString(), 'still open');
});

// ---- H. our client against a hand-driven server ------------------------------------------------

test('H: an empty write completes at once and the data after it still arrives', async (t) => {
  const srv = await ourServer(t, echoing);
  const client = await ourClient(t, srv.port);
  const s = client.request({ ':method': 'CONNECT', ':authority': '1.2.3.4:80' });
  await once(s, 'response');
  await new Promise<void>((resolve, reject) => s.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  t.is((await roundTrip(s, Buffer.from('after'))).toString(), 'after');
});

test('H: DATA before the response on a CONNECT stream → our client resets it with PROTOCOL_ERROR', async (t) => {
  let peer: RawPeer | undefined;
  const port = await listen(t, (sock) => { peer = new RawPeer(sock, CLIENT_PREFACE.length); peer.send(emptySettings()); });
  const client = await ourClient(t, port);
  const s = client.request({ ':method': 'CONNECT', ':authority': '1.2.3.4:80' });
  const failed = new Promise<Error>((resolve) => s.once('error', resolve));
  await eventually(() => { if (!peer?.frames.some((f) => f.type === T.HEADERS)) throw new Error('no HEADERS yet'); });
  peer!.send(frame(T.DATA, 0, 1, Buffer.from('early')));
  const rst = await peer!.find((f) => f.type === T.RST_STREAM && f.stream === 1, 'RST_STREAM on stream 1');
  t.is(rst.payload.readUInt32BE(0), E.PROTOCOL_ERROR);
  t.regex((await failed).message, /DATA before the response on stream 1/);
  t.is(client.streams.size, 0);
});
