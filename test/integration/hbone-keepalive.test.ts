import test, { type ExecutionContext } from 'ava';
import type { H2Stream } from '../../agent/h2/index.js';
import type { SpiffeId } from '../../agent/base/spiffe-id.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import { HbonePool, type PoolKey } from '../../agent/tunnel/pool.js';
import { eventually } from '../helpers/eventually.js';
import { CLIENT_PREFACE, emptySettings, headerBlock, tlsClient } from '../helpers/h2-frames.js';
import { dialHbone, echoHbone, echoOnce } from '../helpers/hbone-echo.js';
import { partitionable } from '../helpers/partition.js';
import { TestCa } from '../helpers/test-ca.js';

/**
 * Peers that stop answering: the keepalive must tear their session down exactly once, on the
 * server and on the pooled client side, and nothing about it may reach the process.
 */
const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/client` as SpiffeId;
const SERVER_ID = `spiffe://${TD}/ns/default/sa/server`;
const KEEPALIVE = { intervalMs: 100, timeoutMs: 300 };
const DEAD_PEER = 'hbone session closed: peer stopped answering pings';
const H2_ERROR = 'hbone session closed: http/2 error';
const ca = new TestCa();
const clientCert = ca.issue([CLIENT_ID]);
const serverCert = ca.issue([SERVER_ID]);
test.after.always(() => ca.dispose());

const uncaught: unknown[] = [];
process.on('uncaughtExceptionMonitor', (err) => uncaught.push(err));

const lines: Record<string, unknown>[] = [];
setLogSink((line) => lines.push(JSON.parse(line) as Record<string, unknown>));
const logged = (component: string, msg: string) => lines.filter((l) => l.component === component && l.msg === msg);

/** An echo HBONE server whose log lines carry `component`. */
async function server(t: ExecutionContext, component: string) {
  const h = await echoHbone({ cert: serverCert, rootPem: ca.rootPem, log: createLogger(component), keepalive: KEEPALIVE });
  t.teardown(() => h.close());
  return h;
}

/** Several keepalive periods more, so a second teardown of the same session would have run. */
const settle = () => new Promise((r) => setTimeout(r, 4 * (KEEPALIVE.intervalMs + KEEPALIVE.timeoutMs)));

function streamEnd(stream: H2Stream): Promise<string> {
  return new Promise((resolve) => {
    stream.on('error', (e) => resolve(e.message));
    stream.on('close', () => resolve(`closed ${stream.rstCode ?? ''}`));
  });
}

test.serial('a client that sends the HTTP/2 preface and never reads is torn down once; the process survives', async (t) => {
  const h = await server(t, 'ka-silent');
  const raw = await tlsClient(h.port, clientCert, ca.rootPem);
  t.teardown(() => raw.destroy());
  raw.on('error', () => {});
  raw.write(Buffer.concat([CLIENT_PREFACE, emptySettings()]));
  raw.pause();
  await eventually(() => { if (h.server.sessionCount !== 1) throw new Error('no session yet'); }, 5000);
  await eventually(() => { if (h.server.sessionCount !== 0) throw new Error('session still open'); }, 5000);
  await settle();
  t.is(logged('ka-silent', DEAD_PEER).length, 1);
  t.deepEqual(uncaught, []);
});

test.serial('a client that sends a 1 MB header block is refused once its header block passes 68 KB, and torn down once; the process survives', async (t) => {
  const h = await server(t, 'ka-headers');
  const raw = await tlsClient(h.port, clientCert, ca.rootPem);
  t.teardown(() => raw.destroy());
  raw.on('error', () => {});
  const headers: [string, string][] = [[':method', 'CONNECT'], [':authority', `127.0.0.1:${h.echoPort}`], ['x-pad', 'a'.repeat(1024 * 1024)]];
  raw.write(Buffer.concat([CLIENT_PREFACE, emptySettings(), headerBlock(1, headers)]));
  raw.pause();
  await eventually(() => { if (logged('ka-headers', H2_ERROR).length === 0) throw new Error('no session error yet'); }, 5000);
  await eventually(() => { if (h.server.sessionCount !== 0) throw new Error('session still open'); }, 5000);
  await settle();
  const errors = logged('ka-headers', H2_ERROR);
  t.is(errors.length, 1);
  t.regex(String(errors[0]!.reason), /ENHANCE_YOUR_CALM: header block of more than 69632 bytes/);
  t.is(logged('ka-headers', DEAD_PEER).length, 0);
  t.is(h.streams.length, 0);
  t.deepEqual(uncaught, []);
});

async function partitionedPool(t: ExecutionContext, component: string) {
  const h = await server(t, component);
  const link = await partitionable(h.port);
  t.teardown(() => link.close());
  const pool = new HbonePool();
  t.teardown(() => pool.close());
  const key: PoolKey = { sourceIdentity: CLIENT_ID, certSerial: clientCert.serial, sourceIp: '127.0.0.1', peer: `127.0.0.1:${link.port}`, expectedIdentities: [SERVER_ID] };
  const dial = () => dialHbone({ port: link.port, cert: clientCert, rootPem: ca.rootPem, expected: [SERVER_ID], keepalive: KEEPALIVE });
  const open = () => pool.stream(key, dial, `127.0.0.1:${h.echoPort}`, {});
  return { h, link, pool, open };
}

test.serial('a partition under an active pooled stream ends the stream and both sessions once; a new stream dials again', async (t) => {
  const { h, link, pool, open } = await partitionedPool(t, 'ka-active');
  const stream = await open();
  t.is(await echoOnce(stream, 'before'), 'before');
  const ended = streamEnd(stream);
  link.partition();
  t.not(await ended, 'closed 0');
  await eventually(() => { if (pool.size !== 0 || h.server.sessionCount !== 0) throw new Error(`pool ${pool.size}, server ${h.server.sessionCount}`); }, 5000);
  await settle();
  t.is(logged('ka-active', DEAD_PEER).length, 1);
  const again = await open();
  t.is(await echoOnce(again, 'after'), 'after');
  t.is(link.accepted, 2);
  again.close();
  t.deepEqual(uncaught, []);
});

test.serial('a partition under an idle pooled connection removes it from the pool and ends the server session once', async (t) => {
  const { h, link, pool, open } = await partitionedPool(t, 'ka-idle');
  const stream = await open();
  t.is(await echoOnce(stream, 'once'), 'once');
  stream.end();
  await streamEnd(stream);
  t.is(pool.size, 1);
  link.partition();
  await eventually(() => { if (pool.size !== 0 || h.server.sessionCount !== 0) throw new Error(`pool ${pool.size}, server ${h.server.sessionCount}`); }, 5000);
  await settle();
  t.is(logged('ka-idle', DEAD_PEER).length, 1);
  t.deepEqual(uncaught, []);
});
