import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GrpcChannel, GrpcError, Status, statusName, type ChannelOptions } from '../../agent/grpc/index.js';

// The agent's gRPC client against grpc-js's server (an independent implementation) and, for
// answers grpc-js never gives, Node's http2 server.

interface Pki { readonly root: string; readonly key: string; readonly cert: string; readonly clientKey: string; readonly clientCert: string }

let pki: Pki | undefined;

/** A self-signed server certificate for 127.0.0.1 and localhost, and a client certificate signed by it. */
function certs(): Pki {
  if (pki) return pki;
  const dir = mkdtempSync(join(tmpdir(), 'mn-grpc-'));
  try {
    const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem',
      '-days', '1', '-subj', '/CN=grpc-test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-addext', 'basicConstraints=critical,CA:TRUE']);
    ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ckey.pem', '-out', 'c.csr', '-subj', '/CN=grpc-client']);
    ssl(['x509', '-req', '-in', 'c.csr', '-CA', 'cert.pem', '-CAkey', 'key.pem', '-CAcreateserial', '-out', 'ccert.pem', '-days', '1']);
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    pki = { root: read('cert.pem'), key: read('key.pem'), cert: read('cert.pem'), clientKey: read('ckey.pem'), clientCert: read('ccert.pem') };
    return pki;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
const SERVICE: grpc.ServiceDefinition = {
  Echo: { path: '/test.T/Echo', requestStream: false, responseStream: false, ...raw },
  Fail: { path: '/test.T/Fail', requestStream: false, responseStream: false, ...raw },
  Hang: { path: '/test.T/Hang', requestStream: false, responseStream: false, ...raw },
  Big: { path: '/test.T/Big', requestStream: false, responseStream: false, ...raw },
  Count: { path: '/test.T/Count', requestStream: false, responseStream: true, ...raw },
};

interface Seen { metadata?: grpc.Metadata; deadline?: grpc.Deadline; cancelled?: boolean }

async function grpcServer(t: ExecutionContext, requireClientCert = false): Promise<{ port: number; seen: Seen; server: grpc.Server }> {
  const { root, key, cert } = certs();
  const server = new grpc.Server();
  const seen: Seen = {};
  server.addService(SERVICE, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen.metadata = call.metadata;
      seen.deadline = call.getDeadline();
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      cb({ code: grpc.status.PERMISSION_DENIED, details: 'nicht erlaubt: ünïcode 100%' });
    },
    Hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => { call.on('cancelled', () => { seen.cancelled = true; }); },
    Big: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(2 * 1024 * 1024, 1)),
    Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = call.request.readUInt8(0);
      for (let i = 0; i < n; i++) call.write(Buffer.from([i]));
      if (call.request.length > 1) call.emit('error', { code: grpc.status.ABORTED, details: 'stopped after the messages' });
      else call.end();
    },
  });
  const creds = grpc.ServerCredentials.createSsl(Buffer.from(root), [{ private_key: Buffer.from(key), cert_chain: Buffer.from(cert) }], requireClientCert);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  return { port, seen, server };
}

function channel(t: ExecutionContext, port: number, extra: Partial<ChannelOptions> = {}): GrpcChannel {
  const c = new GrpcChannel({
    host: '127.0.0.1', port, ca: certs().root, maxMessageBytes: 1024 * 1024, connectTimeoutMs: 2_000,
    keepaliveMs: 30_000, keepaliveTimeoutMs: 10_000, userAgent: 'meshnode-test', ...extra,
  });
  t.teardown(() => c.close());
  return c;
}

async function grpcError(t: ExecutionContext, p: Promise<unknown>): Promise<GrpcError> {
  const err = await t.throwsAsync(p);
  t.true(err instanceof GrpcError, `a GrpcError, got ${String(err)}`);
  return err as GrpcError;
}

test('a unary call reaches grpc-js with its metadata and deadline, and its answer comes back; concurrent calls each get theirs', async (t) => {
  const { port, seen } = await grpcServer(t);
  const c = channel(t, port);
  const before = Date.now();
  t.deepEqual(await c.unary('/test.T/Echo', Buffer.from('hello'), { clusterid: 'Kubernetes', authorization: 'Bearer abc' }, 5_000), Buffer.from('echo:hello'));
  t.deepEqual(seen.metadata?.get('clusterid'), ['Kubernetes']);
  t.deepEqual(seen.metadata?.get('authorization'), ['Bearer abc']);
  const deadline = seen.deadline instanceof Date ? seen.deadline.getTime() : Number(seen.deadline);
  t.true(deadline >= before + 4_000 && deadline <= Date.now() + 5_100, `server-side deadline ${deadline - before} ms after the call`);
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.unary('/test.T/Echo', Buffer.from(String(i)), {}, 5_000)));
  t.deepEqual(results.map(String), Array.from({ length: 20 }, (_, i) => `echo:${i}`));
});

test('a status from the server arrives as a GrpcError with its code and percent-decoded message', async (t) => {
  const { port } = await grpcServer(t);
  const err = await grpcError(t, channel(t, port).unary('/test.T/Fail', Buffer.alloc(0), {}, 5_000));
  t.is(err.status, Status.PERMISSION_DENIED);
  t.is(err.details, 'nicht erlaubt: ünïcode 100%');
  t.is(err.message, 'PERMISSION_DENIED: nicht erlaubt: ünïcode 100%');
});

test('an unknown method is UNIMPLEMENTED', async (t) => {
  const { port } = await grpcServer(t);
  t.is((await grpcError(t, channel(t, port).unary('/test.T/Nope', Buffer.alloc(0), {}, 5_000))).status, Status.UNIMPLEMENTED);
});

test('a call the server never answers fails DEADLINE_EXCEEDED at its timeout, and the server sees it cancelled', async (t) => {
  const { port, seen } = await grpcServer(t);
  const c = channel(t, port);
  await c.unary('/test.T/Echo', Buffer.alloc(0), {}, 5_000); // connected, so the timeout measures the call alone
  const started = Date.now();
  const err = await grpcError(t, c.unary('/test.T/Hang', Buffer.alloc(0), {}, 300));
  t.is(err.status, Status.DEADLINE_EXCEEDED);
  const took = Date.now() - started;
  t.true(took >= 290 && took < 2_000, `failed after ${took} ms`);
  await new Promise((r) => setTimeout(r, 200));
  t.true(seen.cancelled, 'the server learnt the call is over');
});

test('a response over the message limit is RESOURCE_EXHAUSTED, and the channel still serves the next call', async (t) => {
  const { port } = await grpcServer(t);
  const c = channel(t, port);
  const err = await grpcError(t, c.unary('/test.T/Big', Buffer.alloc(0), {}, 5_000));
  t.is(err.status, Status.RESOURCE_EXHAUSTED);
  t.regex(err.details, /2097152 bytes is over the limit of 1048576/);
  t.deepEqual(await c.unary('/test.T/Echo', Buffer.from('x'), {}, 5_000), Buffer.from('echo:x'));
});

test('a server stream delivers its messages in order, then ends or fails with the status after them', async (t) => {
  const { port } = await grpcServer(t);
  const c = channel(t, port);
  const collect = async (request: Buffer) => {
    const call = await c.serverStream('/test.T/Count', request, {});
    const got: number[] = [];
    call.on('message', (m: Buffer) => got.push(m[0]!));
    const outcome = await new Promise<GrpcError | 'end'>((resolve) => { call.on('end', () => resolve('end')); call.on('error', resolve); });
    return { got, outcome };
  };
  const ok = await collect(Buffer.from([5]));
  t.deepEqual(ok, { got: [0, 1, 2, 3, 4], outcome: 'end' });
  const failed = await collect(Buffer.from([3, 1]));
  t.deepEqual(failed.got, [0, 1, 2]);
  t.is((failed.outcome as GrpcError).status, Status.ABORTED);
});

test('closing the channel ends an open stream with CANCELLED', async (t) => {
  const { port } = await grpcServer(t);
  const c = channel(t, port);
  const call = await c.serverStream('/test.T/Hang', Buffer.alloc(0), {});
  const outcome = new Promise<GrpcError>((resolve) => call.on('error', resolve));
  c.close();
  t.is((await outcome).status, Status.CANCELLED);
  t.is((await grpcError(t, c.unary('/test.T/Echo', Buffer.alloc(0), {}, 1_000))).status, Status.CANCELLED);
});

test('the server shutting down under an open stream fails it UNAVAILABLE', async (t) => {
  const { port, server } = await grpcServer(t);
  const c = channel(t, port);
  const call = await c.serverStream('/test.T/Hang', Buffer.alloc(0), {});
  const outcome = new Promise<GrpcError>((resolve) => call.on('error', resolve));
  await new Promise((r) => setTimeout(r, 100));
  server.forceShutdown();
  const err = await outcome;
  t.true(err.status === Status.UNAVAILABLE || err.status === Status.CANCELLED, `status ${err.message}`);
});

test('a server certificate that does not verify, or nothing listening, is UNAVAILABLE naming why', async (t) => {
  const { port } = await grpcServer(t);
  const other = execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null',
    '-days', '1', '-subj', '/CN=other'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const untrusted = await grpcError(t, channel(t, port, { ca: other }).unary('/test.T/Echo', Buffer.alloc(0), {}, 5_000));
  t.is(untrusted.status, Status.UNAVAILABLE);
  t.regex(untrusted.details, /certificate/i);
  const wrongName = await grpcError(t, channel(t, port, { host: '127.0.0.2' }).unary('/test.T/Echo', Buffer.alloc(0), {}, 5_000));
  t.is(wrongName.status, Status.UNAVAILABLE);
  t.regex(wrongName.details, /127\.0\.0\.2|altnames|IP/);
  const closed = await grpcError(t, channel(t, 1).unary('/test.T/Echo', Buffer.alloc(0), {}, 5_000));
  t.is(closed.status, Status.UNAVAILABLE);
  t.regex(closed.details, /ECONNREFUSED/);
});

test('mutual TLS: a server that asks for a client certificate gets ours; without one it refuses the connection', async (t) => {
  const { port } = await grpcServer(t, true);
  const { clientKey, clientCert } = certs();
  t.deepEqual(await channel(t, port, { key: clientKey, cert: clientCert }).unary('/test.T/Echo', Buffer.from('m'), {}, 5_000), Buffer.from('echo:m'));
  t.is((await grpcError(t, channel(t, port).unary('/test.T/Echo', Buffer.alloc(0), {}, 5_000))).status, Status.UNAVAILABLE);
});

test('metadata that cannot be a header is refused before anything is sent, without quoting its value', async (t) => {
  const c = channel(t, 1);
  const err = await grpcError(t, c.unary('/test.T/Echo', Buffer.alloc(0), { authorization: 'Bearer sec\nret' }, 1_000));
  t.is(err.status, Status.INTERNAL);
  t.false(err.message.includes('sec'));
  t.is((await grpcError(t, c.unary('/test.T/Echo', Buffer.alloc(0), { 'grpc-status': '0' }, 1_000))).status, Status.INTERNAL);
});

/** Node's http2 server answering every request with `answer`; for responses grpc-js never gives. */
async function rawServer(t: ExecutionContext, answer: (stream: http2.ServerHttp2Stream) => void): Promise<number> {
  const { key, cert } = certs();
  const server = http2.createSecureServer({ key, cert });
  server.on('stream', (stream) => { stream.on('error', () => undefined); answer(stream); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of sessions) s.destroy(); }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  return (server.address() as { port: number }).port;
}

const message = (payload: Buffer, flag = 0) => Buffer.concat([Buffer.from([flag, 0, 0, 0, payload.length]), payload]);

const RAW_CASES: Array<[string, (s: http2.ServerHttp2Stream) => void, number, RegExp]> = [
  ['an HTTP 503 from a proxy in between', (s) => s.respond({ ':status': 503, 'content-type': 'text/plain' }, { endStream: true }), Status.UNAVAILABLE, /HTTP status 503/],
  ['a 200 that is not gRPC', (s) => s.respond({ ':status': 200, 'content-type': 'text/html' }, { endStream: true }), Status.UNKNOWN, /content-type "text\/html"/],
  ['a response that ends without a grpc-status', (s) => { s.respond({ ':status': 200, 'content-type': 'application/grpc' }); s.end(message(Buffer.from('x'))); }, Status.UNKNOWN, /without a grpc-status/],
  ['a compressed message nobody negotiated', (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(message(Buffer.from('x'), 1));
  }, Status.INTERNAL, /compressed/],
  ['a response cut inside a message', (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(message(Buffer.from('abcdef')).subarray(0, 8));
  }, Status.INTERNAL, /inside a message/],
  ['two messages answering a unary call', (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(Buffer.concat([message(Buffer.from('a')), message(Buffer.from('b'))]));
  }, Status.INTERNAL, /more than one response message/],
  ['OK without a message', (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true }), Status.INTERNAL, /without its response message/],
  ['a trailers-only error', (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'no%20token' }, { endStream: true }), Status.UNAUTHENTICATED, /^no token$/],
  ['a stream reset by the server', (s) => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR), Status.INTERNAL, /reset the stream/],
];

for (const [what, answer, status, details] of RAW_CASES) {
  test(`${what} fails the call with ${statusName(status)} and says so`, async (t) => {
    const port = await rawServer(t, answer);
    const err = await grpcError(t, channel(t, port).unary('/test.T/Echo', Buffer.alloc(0), {}, 5_000));
    t.is(err.status, status, err.message);
    t.regex(err.details, details);
  });
}

test('a trailers-only OK answer ends a server stream without messages', async (t) => {
  const port = await rawServer(t, (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true }));
  const call = await channel(t, port).serverStream('/test.T/Count', Buffer.alloc(0), {});
  let messages = 0;
  call.on('message', () => messages++);
  await new Promise<void>((resolve, reject) => { call.on('end', resolve); call.on('error', reject); });
  t.is(messages, 0);
});

test('a server that stops answering pings has its connection dropped, failing the open stream UNAVAILABLE', async (t) => {
  const { key, cert } = certs();
  // Speaks just enough HTTP/2 to be connected to (an empty SETTINGS), then goes silent.
  const server = tls.createServer({ key, cert, ALPNProtocols: ['h2'] }, (sock) => {
    sock.on('error', () => undefined);
    sock.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    sock.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.close(); });
  const port = (server.address() as { port: number }).port;
  const call = await channel(t, port, { keepaliveMs: 200, keepaliveTimeoutMs: 200 }).serverStream('/test.T/Count', Buffer.alloc(0), {});
  const started = Date.now();
  const err = await new Promise<GrpcError>((resolve) => call.on('error', resolve));
  t.is(err.status, Status.UNAVAILABLE);
  const took = Date.now() - started;
  t.true(took >= 300 && took < 3_000, `dropped after ${took} ms`);
});
