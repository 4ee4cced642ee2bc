import test from 'ava';
import net from 'node:net';
import { currentNetns, TransparentBindError } from '../../agent/net/index.js';
import { connectCounted } from '../../agent/proxy/upstream-connect.js';
import { registry } from '../../metrics/registry.js';

async function failures(labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric('meshnode_proxy_upstream_connect_failures_total')?.get();
  return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

/** A loopback port nothing listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

test.serial('a refused upstream connection is counted with its errno, and still fails', async (t) => {
  const labels = { direction: 'inbound', stage: 'connect', error: 'ECONNREFUSED' };
  const before = await failures(labels);
  const netns = currentNetns();
  await t.throwsAsync(connectCounted(netns, 'inbound', '127.0.0.1', await closedPort()), { code: 'ECONNREFUSED' });
  t.is(await failures(labels), before + 1);
});

test.serial('a source that cannot be bound is counted at the bind stage', async (t) => {
  const labels = { direction: 'outbound', stage: 'bind' };
  const before = await failures(labels);
  const err = await t.throwsAsync(connectCounted(currentNetns(), 'outbound', '127.0.0.1', 9, { localAddress: '::1', transparent: true }));
  t.true(err instanceof TransparentBindError);
  t.is(await failures(labels), before + 1);
});
