import test from 'ava';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import type { H2Headers } from '../../agent/h2/index.js';
import { eventually } from '../helpers/eventually.js';
import { CLIENT_PREFACE, frame, headerBlock } from '../helpers/h2-frames.js';
import { T, E, MiB, CONNECT, START, sha, FrameParser, ourServer, ourClient, echoing, raw, collect, writeAll, roundTrip, closed } from '../helpers/h2-session-peers.js';

/**
 * The HTTP/2 session of the HBONE data path over loopback TCP, against itself and against Node's
 * http2 (nghttp2) in both roles: bulk and concurrent streams, flow control, GOAWAY.
 */
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
