import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { execPlugin, findPlugin, podEnv } from '../../agent/demo/cni-chain.js';
import { AgentClient } from '../../cni/agent-client.js';
import { checkInpodRules } from '../../agent/capture/apply.js';
import { parseIptablesSave } from '../../agent/base/netfilter/saved-rules.js';
import { eventually } from '../helpers/eventually.js';
import { podPortSockets } from '../helpers/pod-netns.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, createCniNode, iptablesSave, sh, type CniNode, type PlannedPod } from './cni-harness.js';
import { startTestMesh, webPodWithStoppedAgent, type TestMesh } from './cni-mesh.js';

const TOOLS = [...CNI_TOOLS, '/usr/lib/cni/static', 'ss', 'flock'];
const ours = (save: string) => save.split('\n').filter((l) => /ISTIO_|MESHNODE_/.test(l));
const hostProbeRules = (node: string, uid: string) => sh('ip', ['netns', 'exec', node, 'iptables-save', '-t', 'nat']).split('\n').filter((l) => l.includes(uid));

interface PodState { registered: boolean; rules: 'all' | 'none' | 'partial'; probeSnat: number }

async function podState(node: CniNode, mesh: TestMesh, pod: PlannedPod): Promise<PodState> {
  const registered = (await new AgentClient(mesh.agentSocket, 5000).registration(pod.uid)) !== undefined;
  const none = ours(iptablesSave(pod.netns, 4)).length === 0 && ours(iptablesSave(pod.netns, 6)).length === 0;
  const all = (await checkInpodRules(pod.netns, { ipv6: false })).length === 0;
  return { registered, rules: all ? 'all' : none ? 'none' : 'partial', probeSnat: hostProbeRules(node.name, pod.uid).length };
}

/** A node with a running agent, an enrolled pod `web` whose netns exists, and meshnode-cni's config for it. */
async function webPod(t: ExecutionContext) {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  await node.create(web);
  const conf = { ...node.conflist(mesh.meshnode, web.ip).plugins[1], cniVersion: '1.0.0', name: 'mntest',
    prevResult: { cniVersion: '1.0.0', ips: [{ address: `${web.ip}/24` }] } };
  return { node, web, mesh, conf };
}

privilegedTest('ADD and DEL of one pod run together: every trial ends with the registration, the in-pod rules and the probe SNAT rule all present or all gone', async (t) => {
  const { node, web, mesh, conf } = await webPod(t);
  const outcomes: string[] = [];
  for (let trial = 0; trial < 8; trial++) {
    // Staggered so the DEL lands at different points of the ADD (enrolment, rules, registration).
    const [add, del] = await Promise.all([
      execPlugin('meshnode-cni', podEnv('ADD', web, node.opts), conf, node.opts),
      new Promise((r) => setTimeout(r, trial * 15)).then(() => execPlugin('meshnode-cni', podEnv('DEL', web, node.opts), conf, node.opts)),
    ]);
    t.is(add.code, 0, add.stdout);
    t.is(del.code, 0, del.stdout);
    const s = await podState(node, mesh, web);
    const consistent = (s.registered && s.rules === 'all' && s.probeSnat === 1) || (!s.registered && s.rules === 'none' && s.probeSnat === 0);
    outcomes.push(`${trial}: ${consistent ? 'ok' : 'MISMATCH'} ${JSON.stringify(s)}`);
    const cleanup = await execPlugin('meshnode-cni', podEnv('DEL', web, node.opts), conf, node.opts);
    t.is(cleanup.code, 0, cleanup.stdout);
  }
  t.deepEqual(outcomes.filter((o) => o.includes('MISMATCH')), [], outcomes.join('\n'));
}, TOOLS);

privilegedTest('ten concurrent ADDs of one pod, twice, leave one copy of every jump and rule, one registration and one probe SNAT rule', async (t) => {
  const { node, web, mesh, conf } = await webPod(t);
  for (let round = 0; round < 2; round++) {
    const runs = await Promise.all(Array.from({ length: 10 }, () => execPlugin('meshnode-cni', podEnv('ADD', web, node.opts), conf, node.opts)));
    t.deepEqual(runs.map((r) => r.code), Array(10).fill(0), runs.map((r) => r.stdout).join('\n'));
  }
  for (const family of [4, 6] as const) {
    for (const [table, saved] of parseIptablesSave(iptablesSave(web.netns, family))) {
      const lines = ours(saved.rules.join('\n'));
      t.deepEqual(lines, [...new Set(lines)], `IPv${family} ${table}: a rule or jump appears twice`);
    }
  }
  t.deepEqual(await checkInpodRules(web.netns, { ipv6: false }), []);
  t.deepEqual(await podState(node, mesh, web), { registered: true, rules: 'all', probeSnat: 1 });
}, TOOLS);

privilegedTest('a registration the agent gets only after the plugin\'s deadline is rolled back, not kept', async (t) => {
  const { web, mesh, pid } = await webPodWithStoppedAgent(t, 1);
  const agent = new AgentClient(mesh.agentSocket, 1000);
  // The agent is stopped: the request waits in its socket until the client has given up.
  const late = agent.register({ uid: web.uid, namespace: 'shop', name: 'web', netns: web.netns, ips: [web.ip] });
  await t.throwsAsync(late, { message: /no answer within 1000 ms/ });
  process.kill(pid, 'SIGCONT');
  await eventually(() => {
    if (!/registration (arrived|finished) after its deadline/.test(mesh.agent.log())) throw new Error('the agent has not handled the late registration yet');
  }, 10_000).catch(() => undefined);
  t.is(await new AgentClient(mesh.agentSocket, 5000).registration(web.uid), undefined, mesh.agent.log().slice(-2000));
  t.deepEqual(podPortSockets(web.netnsName), { 15001: 0, 15006: 0, 15008: 0 }, 'its listeners were closed again');
}, TOOLS);

privilegedTest('a plugin killed while it holds the container lock does not block the next call for that container', async (t) => {
  const { node, web, mesh, pid, conf } = await webPodWithStoppedAgent(t, 30);
  const lockFile = join(dirname(mesh.agentSocket), 'cni-locks', `${web.containerId}.lock`);
  // ADD waits on the stopped agent (up to 30 s) while holding the lock.
  const holder = spawn('ip', ['netns', 'exec', node.name, findPlugin('meshnode-cni', node.opts.cniPath)], { env: podEnv('ADD', web, node.opts), stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise((r) => holder.once('exit', r));
  t.teardown(() => { holder.kill('SIGKILL'); });
  holder.stdin.end(JSON.stringify(conf));
  await eventually(() => {
    if (spawnSync('flock', ['--nonblock', lockFile, 'true']).status !== 1) throw new Error('the ADD does not hold the lock yet');
  });
  holder.kill('SIGKILL');
  await exited;
  process.kill(pid, 'SIGCONT');
  const started = Date.now();
  const del = await execPlugin('meshnode-cni', podEnv('DEL', web, node.opts), conf, node.opts);
  t.is(del.code, 0, del.stdout);
  t.true(Date.now() - started < 10_000, `DEL waited ${Date.now() - started} ms for a dead holder`);
  t.false(existsSync(lockFile), 'the lock file is removed by its last holder');
}, TOOLS);
