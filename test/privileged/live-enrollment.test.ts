import net from 'node:net';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentClient } from '../../cni/agent-client.js';
import { checkInpodRules } from '../../agent/capture/index.js';
import { jsonLines } from '../../agent/demo/control-plane.js';
import { openNetns } from '../../agent/net/index.js';
import { eventually } from '../helpers/eventually.js';
import { privilegedTest } from '../helpers/privileged.js';
import { roundTrip } from '../helpers/sockets.js';
import { echoServerIn, startTraffic } from '../helpers/traffic.js';
import { CNI_TOOLS, createCniNode, iptablesSave, type CniNode, type PlannedPod } from './cni-harness.js';
import { meshYaml, startTestMesh, type MeshYamlOptions } from './cni-mesh.js';

const PORT = 8080;
const CLIENT_ID = 'spiffe://cluster.local/ns/web/sa/client';

/** Replaces the mesh config as a controller would: written whole, renamed into place. */
function writeMesh(node: CniNode, pods: readonly PlannedPod[], opts: MeshYamlOptions): void {
  writeFileSync(join(node.dir, 'mesh.yaml.next'), meshYaml(pods, 'node-1', opts));
  renameSync(join(node.dir, 'mesh.yaml.next'), join(node.dir, 'mesh.yaml'));
}

/** Inbound connections the server's proxy completed with the client's mesh identity. */
function tunnelledFromClient(node: CniNode): number {
  return jsonLines(readFileSync(join(node.dir, 'agent.log'), 'utf8'))
    .filter((l) => l.msg === 'connection complete' && l.direction === 'inbound' && l['src.identity'] === CLIENT_ID).length;
}

// Incremental adoption: a namespace labelled ambient while its pod runs is captured without a
// restart, and un-labelling releases it. Traffic from it to a mesh server (PERMISSIVE, so plaintext
// is accepted while the client is outside) keeps flowing: a direct connection opened before the
// enrolment and a tunnelled one opened during it carry on through the changes, and a stream of
// new connections sees no failure across either change.
privilegedTest('labelling a namespace ambient captures its running pod and removing the label releases it while traffic keeps flowing', async (t) => {
  const node = createCniNode(t);
  const [server, client] = [node.plan('server', 'shop'), node.plan('client', 'web')];
  const outside: MeshYamlOptions = { ambient: ['shop'], mtls: 'PERMISSIVE' };
  const inside: MeshYamlOptions = { ambient: ['shop', 'web'], mtls: 'PERMISSIVE' };
  const mesh = await startTestMesh(t, node, [server, client], outside);
  const agent = new AgentClient(mesh.agentSocket, 5000);
  const agentLog = () => readFileSync(join(node.dir, 'agent.log'), 'utf8').split('\n').slice(-30).join('\n');
  await node.addPod(server, mesh.meshnode);
  await node.addPod(client, mesh.meshnode);
  t.truthy(await agent.registration(server.uid));
  t.is(await agent.registration(client.uid), undefined, 'the client starts outside the mesh');
  t.notDeepEqual(await checkInpodRules(client.netns, { ipv6: false }), [], 'and uncaptured');
  await echoServerIn(t, server.netns, PORT);

  /** A round trip that, failing, says which connection and what the agent logged. */
  const echoed = (sock: net.Socket, text: string) => roundTrip(sock, text).catch((err: Error) => {
    throw new Error(`round trip ${JSON.stringify(text)}: ${err.message}\n${agentLog()}`);
  });
  const clientNs = openNetns(client.netns);
  t.teardown(() => clientNs.close());
  const connect = () => clientNs.connect(server.ip, PORT, { mark: 0 });
  const before = await connect();
  t.teardown(() => before.destroy());
  t.is(await echoed(before, 'opened outside the mesh\n'), 'opened outside the mesh\n');
  const traffic = startTraffic(connect);

  writeMesh(node, [server, client], inside);
  await eventually(async () => {
    if (!(await agent.registration(client.uid))) throw new Error('client not registered yet');
    const missing = await checkInpodRules(client.netns, { ipv6: false });
    if (missing.length > 0) throw new Error(missing.join('; '));
  }, 20_000).catch((err: Error) => { throw new Error(`${err.message}\n${agentLog()}`); });
  // New connections now go through the client's proxy and reach the server over HBONE.
  await eventually(() => { if (tunnelledFromClient(node) === 0) throw new Error('no tunnelled connection from the client yet'); }, 20_000)
    .catch((err: Error) => { throw new Error(`${err.message}\n${agentLog()}`); });
  const during = await connect();
  t.teardown(() => during.destroy());
  t.is(await echoed(during, 'opened in the mesh\n'), 'opened in the mesh\n');
  t.is(await echoed(before, 'still open after enrolment\n'), 'still open after enrolment\n');

  const acrossEnrolment = await traffic.stop();
  t.deepEqual(acrossEnrolment.failures, [], `${acrossEnrolment.ok} connections succeeded across the enrolment`);
  t.true(acrossEnrolment.ok > 5, `only ${acrossEnrolment.ok} connections in the stream`);

  const releasing = startTraffic(connect);
  writeMesh(node, [server, client], outside);
  await eventually(async () => {
    if (await agent.registration(client.uid)) throw new Error('client still registered');
    if (!iptablesSave(client.netns).includes('-A ISTIO_OUTPUT -j RETURN')) throw new Error('client connections still redirected');
  }, 20_000).catch((err: Error) => { throw new Error(`${err.message}\n${agentLog()}`); });
  // The stream's connection in flight when the redirect went away was opened through the proxy and
  // is logged when it ends; the count is taken once two more have finished after it, so that one is in.
  const settled = releasing.count() + 3;
  await eventually(() => { if (releasing.count() < settled) throw new Error(`${releasing.count()} connections in the stream, waiting for ${settled}`); }, 20_000);
  const tunnelled = tunnelledFromClient(node);
  t.is(await echoed(before, 'still open after release\n'), 'still open after release\n');
  t.is(await echoed(during, 'tunnelled, still open after release\n'), 'tunnelled, still open after release\n');
  const after = await connect();
  t.teardown(() => after.destroy());
  t.is(await echoed(after, 'opened outside again\n'), 'opened outside again\n');
  after.destroy();
  const acrossRelease = await releasing.stop();
  t.deepEqual(acrossRelease.failures, [], `${acrossRelease.ok} connections succeeded across the release`);
  t.true(acrossRelease.ok > 5, `only ${acrossRelease.ok} connections in the stream`);
  t.is(tunnelledFromClient(node), tunnelled, 'connections after the release are not tunnelled');

  // The released pod is still known: labelling again captures it again.
  writeMesh(node, [server, client], inside);
  await eventually(async () => { if (!(await agent.registration(client.uid))) throw new Error('client not registered again'); }, 20_000)
    .catch((err: Error) => { throw new Error(`${err.message}\n${agentLog()}`); });
}, [...CNI_TOOLS, '/usr/lib/cni/static']);
