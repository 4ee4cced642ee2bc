import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentClient } from '../../cni/agent-client.js';
import { openNetns } from '../../agent/net/index.js';
import { privilegedTest } from '../helpers/privileged.js';
import { roundTrip } from '../helpers/sockets.js';
import { echoServerIn, startTraffic } from '../helpers/traffic.js';
import { CNI_TOOLS, createCniNode } from './cni-harness.js';
import { startTestMesh } from './cni-mesh.js';

const PORT = 8080;

// A surge rolling update on one node: the new agent binds beside the old one (node ports, the CNI
// socket, every pod's listeners), then the old one is stopped and drains. Traffic between two mesh
// pods flows throughout with no reset, a connection open across the update finishes on the old
// agent, and a pod added while both run is captured.
privilegedTest('a second agent takes over from a running one with no connection reset and no failed CNI ADD', async (t) => {
  const node = createCniNode(t);
  const [server, client, late] = [node.plan('server', 'shop'), node.plan('client', 'shop'), node.plan('late', 'shop')];
  const mesh = await startTestMesh(t, node, [server, client, late]);
  await node.addPod(server, mesh.meshnode);
  await node.addPod(client, mesh.meshnode);
  await echoServerIn(t, server.netns, PORT);
  const clientNs = openNetns(client.netns);
  t.teardown(() => clientNs.close());
  const connect = () => clientNs.connect(server.ip, PORT, { mark: 0 });
  const logs = () => ['agent.log', 'agent-next.log'].map((f) => { try { return `${f}:\n${readFileSync(join(node.dir, f), 'utf8').split('\n').slice(-15).join('\n')}`; } catch { return ''; } }).join('\n');
  const echoed = (sock: import('node:net').Socket, text: string) => roundTrip(sock, text).catch((err: Error) => { throw new Error(`${err.message}\n${logs()}`); });

  const open = await connect();
  t.teardown(() => open.destroy());
  t.is(await echoed(open, 'before the update\n'), 'before the update\n');
  const traffic = startTraffic(connect, 10);

  const { next, retire } = await mesh.startNextAgent();
  t.true(next.log().includes('"pod reopened"'), 'the new agent reopened the pods the old one serves');
  // A pod created while both agents run goes to the new one (it took the socket over).
  await node.addPod(late, mesh.meshnode);
  t.truthy(await new AgentClient(mesh.agentSocket, 5000).registration(late.uid));
  const overlap = traffic.count();
  const stopped = retire();
  t.is(await echoed(open, 'during the old agent\'s drain\n'), 'during the old agent\'s drain\n');
  open.end();
  const exit = await stopped;
  t.deepEqual(exit, { code: 0, signal: null }, logs());
  const after = await connect();
  t.teardown(() => after.destroy());
  t.is(await echoed(after, 'after the update\n'), 'after the update\n');
  const report = await traffic.stop();
  t.deepEqual(report.failures, [], `${report.ok} connections succeeded\n${logs()}`);
  t.true(report.ok + report.failures.length > overlap, 'the stream ran across the old agent\'s exit');
  t.true(report.ok > 20, `only ${report.ok} connections in the stream`);
}, [...CNI_TOOLS, '/usr/lib/cni/static']);
