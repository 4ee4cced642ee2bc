import test from 'ava';
import type net from 'node:net';
import { currentNetns, originalDst, readSocketOptions } from '../../agent/net/index.js';

function accepted(server: net.Server): Promise<net.Socket> {
  return new Promise((resolve) => server.once('connection', resolve));
}

test('sockets made in the agent netns have Nagle off and keepalive on, and no mark by default', async (t) => {
  const ns = currentNetns();
  const server = await ns.listen(0, { host: '127.0.0.1' });
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const incoming = accepted(server);
  const client = await ns.connect('127.0.0.1', port);
  t.teardown(() => client.destroy());
  const peer = await incoming;
  t.teardown(() => peer.destroy());
  t.deepEqual(readSocketOptions(client), { mark: 0, noDelay: true, keepAlive: true });
  t.deepEqual(readSocketOptions(peer), { mark: 0, noDelay: true, keepAlive: true });
});

test('bytes flow both ways over an adopted connection', async (t) => {
  const ns = currentNetns();
  const server = await ns.listen(0, { host: '127.0.0.1' });
  t.teardown(() => server.close());
  server.on('connection', (s) => s.pipe(s));
  const client = await ns.connect('127.0.0.1', (server.address() as net.AddressInfo).port);
  t.teardown(() => client.destroy());
  const echoed = new Promise<string>((resolve) => client.once('data', (d: Buffer) => resolve(d.toString())));
  client.write('ping');
  t.is(await echoed, 'ping');
});

test('a connection that was not redirected has no original destination', async (t) => {
  const ns = currentNetns();
  const server = await ns.listen(0, { host: '127.0.0.1' });
  t.teardown(() => server.close());
  const incoming = accepted(server);
  const client = await ns.connect('127.0.0.1', (server.address() as net.AddressInfo).port);
  t.teardown(() => client.destroy());
  const peer = await incoming;
  t.teardown(() => peer.destroy());
  t.is(originalDst(peer), undefined);
});

test('connecting to a closed port rejects with ECONNREFUSED', async (t) => {
  const ns = currentNetns();
  const server = await ns.listen(0, { host: '127.0.0.1' });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  const err = await t.throwsAsync(ns.connect('127.0.0.1', port));
  t.is((err as NodeJS.ErrnoException).code, 'ECONNREFUSED');
});

test('a host that is not an IP literal is refused before any socket is made', async (t) => {
  await t.throwsAsync(currentNetns().connect('localhost', 80), { instanceOf: TypeError, message: /not an IP address/ });
  await t.throwsAsync(currentNetns().listen(0, { host: 'localhost' }), { instanceOf: TypeError });
});

test('binding a port already bound without SO_REUSEPORT fails with EADDRINUSE naming the address', async (t) => {
  const { createServer } = await import('node:net');
  const plain = createServer();
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  t.teardown(() => plain.close());
  const port = (plain.address() as net.AddressInfo).port;
  await t.throwsAsync(currentNetns().listen(port, { host: '127.0.0.1' }), { message: `bind (127.0.0.1:${port}) failed: EADDRINUSE` });
});

test('the open-files soft limit is raised to the hard limit', async (t) => {
  const { raiseFileLimit } = await import('../../agent/net/index.js');
  const { execFileSync } = await import('node:child_process');
  const { after, before } = raiseFileLimit();
  t.true(after >= before);
  const hard = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(hard)) t.is(after, hard);
  t.deepEqual(raiseFileLimit(), { before: after, after });
});
