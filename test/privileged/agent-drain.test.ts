import net from 'node:net';
import { openNetns } from '../../agent/net/index.js';
import { applyInpodRules } from '../../agent/capture/apply.js';
import { listeningPodPorts, podBody } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { roundTrip } from '../helpers/sockets.js';
import { Topology } from '../helpers/topology.js';
import { shopMesh } from '../helpers/mesh-docs.js';
import { agentWithCa, httpCall, ready, startProcess, until } from './agent-harness.js';

// Graceful drain with a real agent process: SIGTERM lets an open proxied connection finish.
const APP_PORT = 9000;

const meshFor = (ip: string) => shopMesh([{ name: 'web-0', serviceAccount: 'web', ip, node: 'n1' }]);


privilegedTest('on SIGTERM an open proxied connection keeps flowing, new ones are refused, and the agent exits 0 once it ends', async (t) => {
  const topo = Topology.build({ nodes: { n1: ['web', 'out'] } });
  t.teardown(() => topo.destroy());
  const web = topo.pod('web');
  const { args, ports, socket } = await agentWithCa(t, 'i1-drain-', meshFor(web.ip));
  await applyInpodRules(web.path, { ipv6: false });
  const webNs = openNetns(web.path);
  const outNs = openNetns(topo.pod('out').path);
  t.teardown(() => { webNs.close(); outNs.close(); });
  const accepted: net.Socket[] = [];
  const app = net.createServer({ allowHalfOpen: true }, (s) => { accepted.push(s); s.on('error', () => {}); s.pipe(s); });
  await webNs.listen(APP_PORT, { server: app });
  t.teardown(() => { app.close(); for (const s of accepted) s.destroy(); });

  const agent = startProcess(t, args);
  await ready(ports.readiness);
  t.is((await httpCall({ socketPath: socket }, 'POST', '/v1/pods', podBody('uid-web', 'web-0', web.path, web.ip))).status, 200);
  // An out-of-mesh client: captured by web's inbound rules (15006), allowed by the default PERMISSIVE.
  const sock = await outNs.connect(web.ip, APP_PORT, { mark: 0 });
  sock.allowHalfOpen = true;
  t.teardown(() => sock.destroy());
  t.is(await roundTrip(sock, 'before'), 'before');

  const started = Date.now();
  agent.child.kill('SIGTERM');
  await until(() => listeningPodPorts(web.netns).length === 0, 'the pod listeners to close', 1_500);
  t.is(await roundTrip(sock, 'during the drain'), 'during the drain');
  const refused = await outNs.connect(web.ip, APP_PORT, { mark: 0 }).then((s) => { s.destroy(); return 'accepted'; }, (err: NodeJS.ErrnoException) => err.code);
  t.is(refused, 'ECONNREFUSED');
  t.is(await roundTrip(sock, 'still open'), 'still open');
  t.is(agent.child.exitCode, null, 'the agent exited while a connection was open');

  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => sock.once('end', resolve));
  sock.end('bye');
  await ended;
  t.is(Buffer.concat(chunks).toString(), 'bye');
  t.is(await agent.exited, 0);
  const took = Date.now() - started;
  t.true(took < 1_900, `exited ${took} ms after SIGTERM (deadline 2 s)`);
  t.false(agent.lines.some((l) => l.includes('drain overran its deadline')));
}, ['ip', 'iptables', 'ss']);
