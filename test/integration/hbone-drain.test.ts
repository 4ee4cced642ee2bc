import test, { type ExecutionContext } from 'ava';
import { ErrorCode, type H2Stream } from '../../agent/h2/index.js';
import net from 'node:net';
import { currentNetns } from '../../agent/net/index.js';
import { createLogger } from '../../agent/telemetry/log.js';
import { HboneConnection } from '../../agent/tunnel/hbone-connection.js';
import { HboneServer, type InboundStream } from '../../agent/tunnel/hbone-server.js';
import { HbonePool, type PoolKey } from '../../agent/tunnel/pool.js';
import { secureContextFor } from '../../agent/tunnel/tls-config.js';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import { relay, type RelayResult } from '../../agent/proxy/relay.js';
import { TestCa } from '../helpers/test-ca.js';
import { startEchoServer } from '../helpers/sockets.js';

// A draining agent tells HBONE peers to go away; open streams keep working.
const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/client` as SpiffeId;
const SERVER_ID = `spiffe://${TD}/ns/default/sa/server`;
const ca = new TestCa();
const clientCert = ca.issue([CLIENT_ID]);
const serverCert = ca.issue([SERVER_ID]);
test.after.always(() => ca.dispose());

/** An HBONE server in front of an echo server; it refuses its first `refuse` streams unprocessed. */
async function echoPair(t: ExecutionContext, refuse = 0) {
  const echo = await startEchoServer();
  const listener = await currentNetns().listen(0, { host: '127.0.0.1' });
  const streams: InboundStream[] = [];
  const relays: Promise<RelayResult>[] = [];
  const server = new HboneServer(listener, {
    trustDomain: TD, certificate: async () => serverCert, trustBundle: () => [ca.rootPem], log: createLogger('test'),
    onStream: (req) => {
      streams.push(req);
      if (streams.length <= refuse) { req.stream.close(ErrorCode.REFUSED_STREAM); return; }
      const upstream = net.connect(req.target.port, req.target.ip, () => {
        req.stream.respond({ ':status': '200' });
        relays.push(relay(req.stream, upstream));
      });
    },
  });
  t.teardown(() => { server.close(); echo.close(); });
  const port = (listener.address() as net.AddressInfo).port;
  return { server, port, streams, relays, authority: `127.0.0.1:${(echo.address() as net.AddressInfo).port}` };
}

async function dial(port: number): Promise<HboneConnection> {
  const socket = await currentNetns().connect('127.0.0.1', port);
  return HboneConnection.dial({ socket, peer: `127.0.0.1:${port}`, secureContext: secureContextFor(clientCert, [ca.rootPem]), expectedIdentities: [SERVER_ID] });
}

function roundTrip(stream: H2Stream, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (c: Buffer) => {
      got += c.toString();
      if (got.length < text.length) return;
      stream.off('data', onData);
      resolve(got);
    };
    stream.on('data', onData);
    stream.write(text);
  });
}

function ended(stream: H2Stream): Promise<string> {
  let got = '';
  stream.on('data', (c: Buffer) => { got += c.toString(); });
  return new Promise((resolve, reject) => { stream.once('end', () => resolve(got)); stream.once('error', reject); });
}

test('a draining HBONE server sends GOAWAY (NO_ERROR), refuses new connections and keeps open streams flowing', async (t) => {
  const h = await echoPair(t);
  const conn = await dial(h.port);
  t.teardown(() => conn.destroy());
  const stream = await conn.connect(h.authority, {});
  t.is(await roundTrip(stream, 'before'), 'before');
  const goaway = new Promise<number>((r) => conn.session.once('goaway', (code: number) => r(code)));
  h.server.drain();
  t.is(await goaway, ErrorCode.NO_ERROR);
  t.false(conn.usable, 'the connection would still take new streams');
  t.is(await roundTrip(stream, 'after the goaway'), 'after the goaway');
  const rest = ended(stream);
  stream.end('bye');
  t.is(await rest, 'bye');
  const refused = await currentNetns().connect('127.0.0.1', h.port).then((s) => { s.destroy(); return 'accepted'; }, (err: NodeJS.ErrnoException) => err.code);
  t.is(refused, 'ECONNREFUSED');
});

test('a draining pool sends its sessions GOAWAY and keeps their open streams flowing', async (t) => {
  const h = await echoPair(t);
  const pool = new HbonePool();
  t.teardown(() => pool.close());
  const key: PoolKey = { sourceIdentity: CLIENT_ID, certSerial: clientCert.serial, sourceIp: '127.0.0.1', peer: `127.0.0.1:${h.port}`, expectedIdentities: [SERVER_ID] };
  const stream = await pool.stream(key, () => dial(h.port), h.authority, {});
  t.is(await roundTrip(stream, 'before'), 'before');
  const serverSession = h.streams[0]!.stream.session!;
  const goaway = new Promise<number>((r) => serverSession.once('goaway', (code: number) => r(code)));
  pool.drain();
  t.is(await goaway, ErrorCode.NO_ERROR);
  t.is(pool.size, 0);
  t.is(await roundTrip(stream, 'after the goaway'), 'after the goaway');
  const rest = ended(stream);
  stream.end('bye');
  t.is(await rest, 'bye');
});

test('the last stream of a retired connection ends cleanly on both relays, though its session closes right behind it', async (t) => {
  const h = await echoPair(t);
  const pool = new HbonePool();
  t.teardown(() => pool.close());
  const stream = await pool.stream(poolKey(h.port), () => dial(h.port), h.authority, {});
  // The application side of the client's relay: a real TCP pair.
  const app = net.createServer();
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => app.close());
  const accepted = new Promise<net.Socket>((r) => app.once('connection', r));
  const client = net.connect((app.address() as net.AddressInfo).port, '127.0.0.1');
  const result = relay(await accepted, stream);
  pool.drain();
  let echoed = '';
  client.on('data', (c: Buffer) => { echoed += c.toString(); });
  const clientEnded = new Promise((r) => client.once('end', r));
  client.end('last words');
  await clientEnded;
  t.is(echoed, 'last words');
  const [clientSide, serverSide] = await Promise.all([result, h.relays[0]!]);
  t.is(clientSide.error, undefined);
  t.is(serverSide!.error, undefined);
  t.true(stream.session.destroyed, 'the retired session closed with its last stream');
});

const poolKey = (port: number): PoolKey => ({ sourceIdentity: CLIENT_ID, certSerial: clientCert.serial, sourceIp: '127.0.0.1', peer: `127.0.0.1:${port}`, expectedIdentities: [SERVER_ID] });

test('a stream the peer refused unprocessed (REFUSED_STREAM, as a crossing GOAWAY does) is opened again', async (t) => {
  const h = await echoPair(t, 2);
  const pool = new HbonePool();
  t.teardown(() => pool.close());
  const stream = await pool.stream(poolKey(h.port), () => dial(h.port), h.authority, {});
  t.is(await roundTrip(stream, 'third time'), 'third time');
  t.is(h.streams.length, 3, 'two refusals, then the stream that was answered');
});

test('a peer that keeps refusing gets three attempts, then the caller sees ERR_TUNNEL_REFUSED', async (t) => {
  const h = await echoPair(t, Number.MAX_SAFE_INTEGER);
  const pool = new HbonePool();
  t.teardown(() => pool.close());
  const err = await t.throwsAsync(pool.stream(poolKey(h.port), () => dial(h.port), h.authority, {}));
  t.is((err as { code?: string }).code, 'ERR_TUNNEL_REFUSED');
  t.regex(err!.message, /refused the stream .* before processing it/);
  t.is(h.streams.length, 3);
});

test('a stream reset with another code is not opened again', async (t) => {
  const echo = await startEchoServer();
  t.teardown(() => echo.close());
  const listener = await currentNetns().listen(0, { host: '127.0.0.1' });
  let seen = 0;
  const server = new HboneServer(listener, {
    trustDomain: TD, certificate: async () => serverCert, trustBundle: () => [ca.rootPem], log: createLogger('test'),
    onStream: (req) => { seen++; req.stream.close(ErrorCode.INTERNAL_ERROR); },
  });
  t.teardown(() => server.close());
  const port = (listener.address() as net.AddressInfo).port;
  const pool = new HbonePool();
  t.teardown(() => pool.close());
  const err = await t.throwsAsync(pool.stream(poolKey(port), () => dial(port), `127.0.0.1:${(echo.address() as net.AddressInfo).port}`, {}));
  t.is((err as { code?: string }).code, 'ERR_TUNNEL_CLOSED');
  t.is(seen, 1);
});
