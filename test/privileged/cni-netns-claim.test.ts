import { execPlugin, podEnv } from '../../agent/demo/cni-chain.js';
import { AgentClient, AgentError } from '../../cni/agent-client.js';
import { checkInpodRules } from '../../agent/capture/apply.js';
import { podPortSockets } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, createCniNode, iptablesSave, sh } from './cni-harness.js';
import { startTestMesh } from './cni-mesh.js';

const TOOLS = [...CNI_TOOLS, '/usr/lib/cni/static', 'ss'];
const hostProbeRules = (node: string) => sh('ip', ['netns', 'exec', node, 'iptables-save', '-t', 'nat']).split('\n').filter((l) => l.startsWith('-A MESHNODE_POSTRT'));

privilegedTest('a registration claiming the netns of another registered pod, by another path, is refused with 409 netns-in-use; that pod keeps its listeners alone', async (t) => {
  const node = createCniNode(t);
  const [web, other] = [node.plan('web', 'shop'), node.plan('other', 'shop')];
  const mesh = await startTestMesh(t, node, [web, other]);
  await node.addPod(web, mesh.meshnode);
  // One listener per port and event loop of the agent (--workers).
  const own = podPortSockets(web.netnsName);
  const agent = new AgentClient(mesh.agentSocket, 5000);
  // /run/netns/X and /var/run/netns/X are one file: the same namespace under another name.
  const claim = agent.register({ uid: other.uid, namespace: 'shop', name: 'other', netns: `/run/netns/${web.netnsName}`, ips: [other.ip] });
  const err = await t.throwsAsync(claim, { instanceOf: AgentError });
  t.like(err, { status: 409, reason: 'netns-in-use' });
  t.regex(err!.message, new RegExp(`already registered to pod shop/web \\(uid ${web.uid}\\)`));
  t.true(own[15001]! >= 1 && own[15001] === own[15006] && own[15006] === own[15008], JSON.stringify(own));
  t.deepEqual(podPortSockets(web.netnsName), own, 'the pod\'s own listeners only: nothing added for the claim');
  t.is(await agent.registration(other.uid), undefined);
  t.like(await agent.registration(web.uid), { uid: web.uid, netns: web.netns });
}, TOOLS);

privilegedTest('meshnode-cni ADD of a pod into another pod\'s netns fails with code 101 and leaves that pod\'s rules and registration intact', async (t) => {
  const node = createCniNode(t);
  const [web, other] = [node.plan('web', 'shop'), node.plan('other', 'shop')];
  const mesh = await startTestMesh(t, node, [web, other]);
  await node.addPod(web, mesh.meshnode);
  const conf = { ...node.conflist(mesh.meshnode, other.ip).plugins[1], cniVersion: '1.0.0', name: 'mntest',
    prevResult: { cniVersion: '1.0.0', ips: [{ address: `${other.ip}/24` }] } };
  const run = await execPlugin('meshnode-cni', podEnv('ADD', { ...other, netns: web.netns }, node.opts), conf, node.opts);
  t.is(run.code, 1, run.stdout);
  t.like(JSON.parse(run.stdout), { code: 101 });
  t.regex(JSON.parse(run.stdout).msg, /already registered to pod shop\/web/);
  t.deepEqual(await checkInpodRules(web.netns, { ipv6: false }), [], 'the rules capturing web are still there');
  const agent = new AgentClient(mesh.agentSocket, 5000);
  t.truthy(await agent.registration(web.uid));
  t.is(await agent.registration(other.uid), undefined);
  t.deepEqual(hostProbeRules(node.name).map((r) => r.includes(web.uid)), [true], 'only web\'s probe SNAT rule');
}, TOOLS);

privilegedTest('the node\'s own netns is refused: meshnode-cni ADD with CNI_NETNS=/proc/self/ns/net fails with code 105 touching nothing, the agent answers 422 netns-of-node', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  const nodeNetns = `/var/run/netns/${node.name}`;
  const before = [iptablesSave(nodeNetns, 4), iptablesSave(nodeNetns, 6)];
  const conf = { ...node.conflist(mesh.meshnode, web.ip).plugins[1], cniVersion: '1.0.0', name: 'mntest',
    prevResult: { cniVersion: '1.0.0', ips: [{ address: `${web.ip}/24` }] } };
  const run = await execPlugin('meshnode-cni', { ...podEnv('ADD', web, node.opts), CNI_NETNS: '/proc/self/ns/net' }, conf, node.opts);
  t.is(run.code, 1, run.stdout);
  t.like(JSON.parse(run.stdout), { code: 105, msg: 'CNI_NETNS is the node\'s own network namespace' });
  const strip = (save: string) => save.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  t.deepEqual([iptablesSave(nodeNetns, 4), iptablesSave(nodeNetns, 6)].map(strip), before.map(strip), 'no rule changed in the node netns');
  t.deepEqual(podPortSockets(node.name), { 15001: 0, 15006: 0, 15008: 0 });
  const agent = new AgentClient(mesh.agentSocket, 5000);
  t.is(await agent.registration(web.uid), undefined);

  // The agent refuses it on its own too, whichever path names its namespace.
  for (const netns of ['/proc/self/ns/net', `/proc/${mesh.agent.child.pid}/ns/net`]) {
    const err = await t.throwsAsync(agent.register({ uid: web.uid, namespace: 'shop', name: 'web', netns, ips: [web.ip] }), { instanceOf: AgentError });
    t.like(err, { status: 422, reason: 'netns-of-node' });
  }
  t.deepEqual(podPortSockets(node.name), { 15001: 0, 15006: 0, 15008: 0 });
}, TOOLS);
