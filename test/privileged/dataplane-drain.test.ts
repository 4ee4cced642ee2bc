import type net from 'node:net';
import { drainAll, type Drainable } from '../../agent/lifecycle/drain.js';
import type { PodProxies } from '../../agent/proxy/pod-proxies.js';
import { createLogger } from '../../agent/telemetry/log.js';
import { privilegedTest } from '../helpers/privileged.js';
import { roundTrip } from '../helpers/sockets.js';
import { closed, echo, readAll, startDataplane } from './dataplane-harness.js';

// A graceful drain stops new connections, lets open ones finish, forces the rest.
const PORT = 8080;

function drainable(node: string, proxies: PodProxies): Drainable {
  return { name: `pod proxies ${node}`, close: () => proxies.close(), destroy: () => proxies.destroy() };
}

function connectError(connecting: Promise<net.Socket>): Promise<string | undefined> {
  return connecting.then((s) => { s.destroy(); return undefined; }, (err: NodeJS.ErrnoException) => err.code);
}

privilegedTest('during a drain an open tunnelled connection keeps flowing both ways, new ones are refused, and the drain ends when it closes', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', PORT, echo);
  const sock = await dp.connect('a', 'b', PORT);
  sock.on('error', () => undefined);
  t.is(await roundTrip(sock, 'before'), 'before');

  const started = Date.now();
  let settled = false;
  const drain = drainAll([...dp.proxies].map(([node, p]) => drainable(node, p)), 5_000, createLogger('drain-test'))
    .finally(() => { settled = true; });
  t.is(await roundTrip(sock, 'during the drain'), 'during the drain');
  t.is(await connectError(dp.connect('a', 'b', PORT)), 'ECONNREFUSED', 'outbound capture (15001) still accepted');
  t.is(await connectError(dp.connect('out', 'b', PORT)), 'ECONNREFUSED', 'inbound plaintext (15006) still accepted');
  t.is(await roundTrip(sock, 'still open'), 'still open');
  t.false(settled, 'the drain ended while a connection was open');

  const rest = readAll(sock);
  sock.end('last words');
  t.is((await rest).toString(), 'last words');
  t.deepEqual(await drain, { overran: [] });
  t.true(Date.now() - started < 5_000, `drain took ${Date.now() - started} ms`);
});

privilegedTest('a connection still open at the drain deadline is force-closed', async (t) => {
  const dp = await startDataplane(t);
  await dp.serve('b', PORT, echo);
  const sock = await dp.connect('a', 'b', PORT);
  sock.on('error', () => undefined);
  t.is(await roundTrip(sock, 'hello'), 'hello');
  const started = Date.now();
  const outcome = await drainAll([drainable('n1', dp.proxies.get('n1')!)], 1_000, createLogger('drain-test'));
  const took = Date.now() - started;
  t.deepEqual(outcome, { overran: ['pod proxies n1'] });
  t.true(took >= 950 && took < 2_000, `drain took ${took} ms (deadline 1 s)`);
  await closed(sock);
  t.true(sock.destroyed);
});
