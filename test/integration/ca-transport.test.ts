import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { CaServer } from '../../agent/ca/server.js';
import { caApi } from '../../agent/ca/ca-api.js';
import { CREATE_CERTIFICATE_PATH } from '../../agent/identity/index.js';
import { createCertManager } from '../../agent/identity/cert-manager.js';
import { generateKeyAndCsr } from '../../agent/identity/csr.js';
import { asSpiffeId } from '../../agent/base/spiffe-id.js';
import { certificateUris } from '../../agent/base/x509.js';
import { NODE_TOKEN, recordingLogger, removeDir, tempDir, WORKLOAD, WORKLOAD_TOKEN, writeTokens } from './ca-support.js';

// Issue #15 item 11 (a, b): the CA's own transport. Clients here are independent of it: curl
// (libcurl/nghttp2) for raw HTTP/2, node:net and node:tls for idle connections, grpc-js.

const run = promisify(execFile);

async function startServer(t: ExecutionContext, timeouts?: { handshakeTimeoutMs: number; idleTimeoutMs: number; requestTimeoutMs: number }) {
  const work = tempDir('mn-ca-transport-');
  t.teardown(() => removeDir(work));
  const server = await CaServer.start({
    dir: join(work, 'ca'), listen: { host: '127.0.0.1', port: 0 }, trustDomain: 'cluster.local',
    tokensFile: writeTokens(work), hostnames: [], defaultTtlMs: 3_600_000, maxTtlMs: 86_400_000, log: recordingLogger(), timeouts,
  });
  t.teardown(() => server.close(100));
  const rootFile = join(work, 'ca', 'root-cert.pem');
  return { work, server, port: server.port, rootFile, root: readFileSync(rootFile, 'utf8') };
}

test('the first Bearer value counts when another authorization header comes first', async (t) => {
  const { work, port, rootFile } = await startServer(t);
  const { csrPem } = await generateKeyAndCsr(WORKLOAD);
  const { requestSerialize, responseDeserialize } = caApi().service.CreateCertificate;
  const message = requestSerialize({ csr: csrPem, validity_duration: 0, metadata: null });
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
  frame.writeUInt32BE(message.length, 1);
  writeFileSync(join(work, 'request.bin'), frame);
  const { stdout } = await run('curl', ['--silent', '--show-error', '--http2', '--cacert', rootFile,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers',
    '-H', 'authorization: Basic dXNlcjpwYXNz', '-H', `authorization: Bearer ${WORKLOAD_TOKEN}`,
    '--data-binary', `@${join(work, 'request.bin')}`, '--output', join(work, 'response.bin'), '--write-out', '%{http_version}',
    `https://127.0.0.1:${port}${CREATE_CERTIFICATE_PATH}`]);
  t.is(stdout, '2');
  const body = readFileSync(join(work, 'response.bin'));
  t.true(body.length > 5, 'a response message, not a trailers-only refusal');
  const response = responseDeserialize(body.subarray(5));
  t.deepEqual(certificateUris(new X509Certificate(response.cert_chain[0]!).raw), [WORKLOAD]);
});

/** Resolves with how long the server took to close the connection `socket`. */
function closedAfter(socket: net.Socket): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(Date.now() - started));
    socket.resume();
  });
}

const SHORT = { handshakeTimeoutMs: 500, idleTimeoutMs: 1_000, requestTimeoutMs: 1_000 };

test('a TCP connection that never starts TLS is closed at the handshake timeout', async (t) => {
  const { port } = await startServer(t, SHORT);
  const socket = net.connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const ms = await Promise.race([closedAfter(socket), new Promise<number>((r) => setTimeout(() => r(Infinity), 5_000))]);
  t.true(ms >= 400 && ms < 2_500, `closed after ${ms} ms`);
});

test('a TLS connection that never makes a call is closed at the idle timeout', async (t) => {
  const { port, root } = await startServer(t, SHORT);
  const socket = tls.connect({ host: '127.0.0.1', port, ca: root, ALPNProtocols: ['h2'] });
  t.teardown(() => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  t.is(socket.alpnProtocol, 'h2');
  const ms = await Promise.race([closedAfter(socket), new Promise<number>((r) => setTimeout(() => r(Infinity), 5_000))]);
  t.true(ms >= 800 && ms < 3_000, `closed after ${ms} ms`);
});

test('a call whose request never ends is reset at the request timeout', async (t) => {
  const { port, root } = await startServer(t, SHORT);
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: root });
  t.teardown(() => session.destroy());
  session.on('error', () => undefined);
  const req = session.request({ ':method': 'POST', ':path': CREATE_CERTIFICATE_PATH, 'content-type': 'application/grpc' });
  req.on('error', () => undefined);
  req.write(Buffer.from([0, 0, 0, 1, 0]));
  const started = Date.now();
  await new Promise((r) => req.once('close', r));
  const ms = Date.now() - started;
  t.is(req.rstCode, http2.constants.NGHTTP2_CANCEL);
  t.true(ms >= 800 && ms < 3_000, `reset after ${ms} ms`);
});

test('the agent\'s channel reconnects by itself after the CA closed it for idleness', async (t) => {
  const { work, port } = await startServer(t, SHORT);
  writeFileSync(join(work, 'token'), NODE_TOKEN);
  const m = createCertManager({
    node: 'n1', caAddress: { host: '127.0.0.1', port }, caRootFile: join(work, 'ca', 'root-cert.pem'),
    tokenFile: join(work, 'token'), clusterId: 'Kubernetes', certTtlMs: 3_600_000, log: recordingLogger(),
  });
  t.teardown(() => m.close());
  const cart = asSpiffeId('spiffe://cluster.local/ns/shop/sa/cart')!;
  const web = asSpiffeId('spiffe://cluster.local/ns/shop/sa/web')!;
  m.setIdentities([cart]);
  await m.fetch(cart, 5_000);
  await new Promise((r) => setTimeout(r, SHORT.idleTimeoutMs + 500));
  m.setIdentities([cart, web]);
  const cert = await m.fetch(web, 5_000);
  t.is(cert.id, web);
});
