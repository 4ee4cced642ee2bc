import type { ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { eventually } from '../helpers/eventually.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, createCniNode, iptablesSave, sh, type PlannedPod } from './cni-harness.js';
import { startTestMesh } from './cni-mesh.js';

const TOOLS = [...CNI_TOOLS, '/usr/lib/cni/static'];

/**
 * The pod's fe80:: address on eth0, once duplicate address detection is over (a tentative
 * address cannot be connected to or from). The bridge plugin leaves one on every pod interface,
 * whatever addresses IPAM hands out.
 */
function linkLocal(pod: PlannedPod): Promise<string> {
  return eventually(() => {
    const out = sh('ip', ['-n', pod.netnsName, '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
    const m = /inet6 (fe80::[0-9a-f:]+)\/64/.exec(out);
    if (!m || out.includes('tentative')) throw new Error(`no usable link-local address yet: ${out}`);
    return m[1]!;
  }, 10_000);
}

interface Call { connected: boolean; reply: string; ended: string; error?: string }

/**
 * Adds `caller` and `callee` through the node's conflist (bridge + meshnode-cni), runs the sample
 * server on :: port 8080 in the callee, and calls it from the caller at its fe80:: address.
 */
async function callLinkLocal(t: ExecutionContext, caller: [string, string], callee: [string, string]) {
  const node = createCniNode(t);
  const [from, to] = [node.plan(...caller), node.plan(...callee)];
  const mesh = await startTestMesh(t, node, [from, to]);
  await node.addPod(from, mesh.meshnode);
  await node.addPod(to, mesh.meshnode);
  await mesh.serve(to, 8080);
  const target = await linkLocal(to);
  await linkLocal(from);
  const call = JSON.parse(await mesh.app(from.netnsName, ['call', `[${target}%eth0]:8080`, '--timeout', '2000'])) as Call;
  return { call, calleeSaw: readFileSync(`${node.dir}/${to.name}.log`, 'utf8').includes('"connection"'), callee: to };
}

privilegedTest('IPv6 link-local cannot bypass capture: a plaintext call from outside the mesh to a STRICT pod\'s fe80:: never reaches its app on ::', async (t) => {
  const { call, calleeSaw, callee } = await callLinkLocal(t, ['batch', 'legacy'], ['server', 'shop']);
  t.false(call.reply.includes('hello from shop/server'), `delivered in plaintext: ${JSON.stringify(call)}`);
  t.false(calleeSaw, 'the app saw no connection');
  t.true(iptablesSave(callee.netns, 6).includes('-A MESHNODE_INPUT -j DROP'));
}, TOOLS);

privilegedTest('IPv6 link-local cannot bypass capture: an enrolled pod\'s call to a neighbour\'s fe80:: does not leave the pod', async (t) => {
  const { call, calleeSaw } = await callLinkLocal(t, ['client', 'shop'], ['batch', 'legacy']);
  t.false(call.connected, `escaped capture: ${JSON.stringify(call)}`);
  t.is(call.error, 'ECONNREFUSED', `refused inside the pod at once, not left to time out: ${JSON.stringify(call)}`);
  t.false(calleeSaw, 'the neighbour saw no connection');
}, TOOLS);
