import { basename, dirname } from 'node:path';
import { execPlugin, podEnv } from '../../agent/demo/cni-chain.js';
import { AgentClient } from '../../cni/agent-client.js';
import { eventually } from '../helpers/eventually.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, iptablesSave, sh } from './cni-harness.js';
import { webPodWithStoppedAgent } from './cni-mesh.js';

// The agent restarts while a CNI ADD is waiting for it. Whatever
// wins the race, the pod never ends up redirected without a registration (or the reverse).
const ours = (save: string) => save.split('\n').filter((l) => l.includes('ISTIO_'));

/**
 * Connections queued on the agent's listening unix socket that it has not accepted yet. `ss`
 * shows the name the socket was bound under: the agent binds `.cni.sock.<pid>-<random>` next to
 * the socket path and renames it into place.
 */
function backlog(netns: string, socket: string): number {
  const bound = `${dirname(socket)}/.${basename(socket)}.`;
  const line = sh('ip', ['netns', 'exec', netns, 'ss', '-xlH']).split('\n').find((l) => l.includes(` ${socket} `) || l.includes(` ${bound}`));
  return line ? Number(line.trim().split(/\s+/)[2]) : 0;
}

privilegedTest('an agent restart during an in-flight ADD leaves either a failed ADD with no rules or a registered, captured pod', async (t) => {
  const { node, web, mesh, pid, conf } = await webPodWithStoppedAgent(t, 10);
  const started = Date.now();
  const adding = execPlugin('meshnode-cni', podEnv('ADD', web, node.opts), conf, node.opts);
  await eventually(() => { if (backlog(node.name, mesh.agentSocket) < 1) throw new Error('ADD not yet waiting on the agent: ' + sh('ip', ['netns', 'exec', node.name, 'ss', '-xlH']).split('\n').filter((l) => l.includes('cni')).join(' | ')); }, 10_000);
  process.kill(pid, 'SIGCONT');
  await mesh.restartAgent();
  const run = await adding;
  t.true(Date.now() - started < 10_000, 'the ADD did not have to wait for its timeout');
  const registered = await new AgentClient(mesh.agentSocket, 5000).registration(web.uid);
  const rules = ours(iptablesSave(web.netns));
  t.log(`ADD exit ${run.code}${run.code === 0 ? '' : `: ${run.stdout}`}`);
  if (run.code === 0) {
    t.truthy(registered, 'a successful ADD is registered with the new agent');
    t.true(rules.length > 0);
  } else {
    t.true([11, 101].includes(JSON.parse(run.stdout).code), run.stdout);
    t.deepEqual(rules, [], 'a failed ADD leaves no redirection');
  }
  // The runtime's retry after a failure, or a later DEL, converges either way.
  t.is((await execPlugin('meshnode-cni', podEnv('DEL', web, node.opts), conf, node.opts)).code, 0);
  t.deepEqual(ours(iptablesSave(web.netns)), []);
  t.is(await new AgentClient(mesh.agentSocket, 5000).registration(web.uid), undefined);
}, [...CNI_TOOLS, 'ss']);
