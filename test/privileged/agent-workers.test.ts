import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { openNetns } from '../../agent/net/index.js';
import { applyInpodRules } from '../../agent/capture/apply.js';
import { listeningPodPorts, podBody, podPortSockets } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { roundTrip } from '../helpers/sockets.js';
import { Topology } from '../helpers/topology.js';
import { denyFrom, shopMesh } from '../helpers/mesh-docs.js';
import { agentWithCa, httpCall, ready, startProcess, until } from './agent-harness.js';

// `meshnode agent --workers 2`: two event loops serve every pod, each with its own listeners.
const APP_PORT = 9000;
const TD = 'cluster.local';

const meshFor = (web: string, client: string, extra = '') => shopMesh([
  { name: 'web-0', serviceAccount: 'web', ip: web, node: 'n1' },
  { name: 'client-0', serviceAccount: 'client', ip: client, node: 'n1' },
], extra);

const DENY_CLIENT = denyFrom('client', TD);

/** Sum of a counter's series whose labels include every `key="value"` in `labels`. */
function counterSum(text: string, name: string, labels: readonly string[]): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) && labels.every((lab) => l.includes(lab)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

privilegedTest('with --workers 2 both loops listen in every pod, carry traffic, follow policy changes, sum their metrics and close with the pod', async (t) => {
  const topo = Topology.build({ nodes: { n1: ['web', 'client'] } });
  t.teardown(() => topo.destroy());
  const web = topo.pod('web');
  const client = topo.pod('client');
  const { args, ports, socket, config } = await agentWithCa(t, 'i1-workers-', meshFor(web.ip, client.ip));
  for (const pod of [web, client]) await applyInpodRules(pod.path, { ipv6: false });
  const webNs = openNetns(web.path);
  const clientNs = openNetns(client.path);
  t.teardown(() => { webNs.close(); clientNs.close(); });
  const accepted = new Set<net.Socket>();
  const app = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted.add(s);
    s.on('close', () => accepted.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await webNs.listen(APP_PORT, { server: app });
  t.teardown(() => { app.close(); for (const s of accepted) s.destroy(); });

  const agent = startProcess(t, [...args, '--workers', '2']);
  await ready(ports.readiness);
  for (const [uid, name, pod] of [['uid-web', 'web-0', web], ['uid-client', 'client-0', client]] as const) {
    t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody(uid, name, pod.path, pod.ip))).status, 200);
  }
  // One socket per loop on every pod port.
  t.deepEqual(podPortSockets(web.netns), { 15001: 2, 15006: 2, 15008: 2 });
  t.deepEqual(podPortSockets(client.netns), { 15001: 2, 15006: 2, 15008: 2 });

  // Unmarked, so the client pod's rules capture it: 15001 → HBONE → web's 15008 → the app.
  const dial = () => clientNs.connect(web.ip, APP_PORT, { mark: 0 });
  const CONNECTIONS = 200;
  for (let i = 0; i < CONNECTIONS; i++) {
    const s = await dial();
    s.allowHalfOpen = true;
    t.is(await roundTrip(s, `hello ${i}`), `hello ${i}`);
    s.destroy();
  }
  // Every connection leaves two access-log lines (both ends); the kernel's hash spreads them over both loops.
  const text = () => agent.lines.join('\n');
  await until(() => (text().match(/"msg":"connection complete"/g) ?? []).length >= 2 * CONNECTIONS, 'the access-log lines', 20_000);
  const byWorker = (text().match(/"msg":"connection complete"[^\n]*"worker":1/g) ?? []).length;
  t.true(byWorker > 0 && byWorker < 2 * CONNECTIONS, `worker 1 logged ${byWorker} of ${2 * CONNECTIONS} connection ends`);

  // The endpoint sums both loops: each connection counted once per reporter.
  const metrics = await httpCall({ port: ports.metrics }, 'GET', '/metrics');
  t.is(metrics.status, 200);
  for (const reporter of ['source', 'destination']) {
    t.is(counterSum(metrics.body, 'istio_tcp_connections_opened_total', [`reporter="${reporter}"`]), CONNECTIONS, reporter);
  }
  t.is((metrics.body.match(/^# TYPE istio_tcp_connections_opened_total /gm) ?? []).length, 1);
  t.true(metrics.body.includes('meshnode_process_start_time_seconds'), 'process metrics are still served');
  execFileSync('promtool', ['check', 'metrics'], { input: metrics.body });

  // Open connections on both loops are listed together.
  const held: net.Socket[] = [];
  t.teardown(() => { for (const s of held) s.destroy(); });
  for (let i = 0; i < 20; i++) {
    const s = await dial();
    t.is(await roundTrip(s, 'held'), 'held');
    held.push(s);
  }
  const listed = JSON.parse((await httpCall({ port: ports.admin }, 'GET', '/connections')).body) as { direction: string }[];
  t.is(listed.filter((c) => c.direction === 'inbound').length, 20);
  t.is(listed.filter((c) => c.direction === 'outbound').length, 20);
  const status = JSON.parse((await httpCall({ port: ports.admin }, 'GET', '/status')).body) as { pods: { openConnections: number } };
  t.is(status.pods.openConnections, 40);

  // A policy reload reaches both loops: every held connection is closed, every new one refused.
  const closed = held.map((s) => new Promise<void>((resolve) => { s.once('close', () => resolve()); s.on('error', () => {}); }));
  await writeFile(config, meshFor(web.ip, client.ip, DENY_CLIENT));
  await until(() => text().includes('mesh config reloaded'), 'the reload', 20_000);
  await Promise.all(closed);
  for (let i = 0; i < 40; i++) {
    const s = await dial().catch(() => undefined);
    if (!s) continue;
    const closed = new Promise<string>((resolve) => s.once('close', () => resolve('closed')));
    const answer = await Promise.race([roundTrip(s, 'denied?').catch(() => 'refused'), closed]);
    s.destroy();
    t.not(answer, 'denied?', `connection ${i} got through after the DENY`);
  }

  // Removing the pod closes its listeners on both loops.
  t.is((await httpCall({ socketPath: socket }, 'DELETE', '/v1/pods/uid-web')).status, 200);
  await until(() => listeningPodPorts(web.netns).length === 0, 'web listeners to close', 5_000);
  t.deepEqual(podPortSockets(client.netns), { 15001: 2, 15006: 2, 15008: 2 });

  agent.child.kill('SIGTERM');
  t.is(await agent.exited, 0);
  t.false(text().includes('data-plane worker lost'));
}, ['ip', 'iptables', 'ss', 'promtool']);
