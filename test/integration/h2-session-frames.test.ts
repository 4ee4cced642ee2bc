import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import { eventually } from '../helpers/eventually.js';
import { CLIENT_PREFACE, emptySettings, frame, headerBlock, literalBlock } from '../helpers/h2-frames.js';
import { T, ACK, END_HEADERS, E, MiB, CONNECT, START, u32, ping, settings, RawPeer, listen, ourServer, ourClient, echoing, raw, roundTrip } from '../helpers/h2-session-peers.js';

/**
 * The HTTP/2 session against hand-made frames: every connection and stream error it answers is
 * read back off the wire, as are its PING and SETTINGS acknowledgements and its client's checks.
 */

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
