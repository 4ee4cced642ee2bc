import { execPlugin, podEnv } from '../../agent/demo/cni-chain.js';
import { applyInpodRules, checkInpodRules, removeInpodRules } from '../../agent/capture/apply.js';
import { renderInpodRules } from '../../agent/capture/rules.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, createCniNode, iptablesSave, sh } from './cni-harness.js';

const noAgent = { agentSocket: '/nonexistent/meshnode/cni.sock' };

function ourLines(save: string): string[] {
  return save.split('\n').filter((l) => l.includes('ISTIO_'));
}

privilegedTest('the rendered rules apply in a real pod netns and iptables-save prints them back verbatim', async (t) => {
  const node = createCniNode(t);
  const pod = await node.newPod('web', 'shop');
  await applyInpodRules(pod.netns, { ipv6: false });
  const save = iptablesSave(pod.netns);
  for (const line of renderInpodRules({ ipv6: false }).iptables.split('\n').filter((l) => l.startsWith('-A'))) {
    t.true(save.includes(line), `missing after apply: ${line}`);
  }
  t.regex(sh('nsenter', [`--net=${pod.netns}`, 'ip', 'rule', 'show']), /32764:\s+from all fwmark 0x111\/0xfff lookup 100/);
  t.regex(sh('nsenter', [`--net=${pod.netns}`, 'ip', 'route', 'show', 'table', '100']), /^local default dev lo/m);
  t.deepEqual(await checkInpodRules(pod.netns, { ipv6: false }), []);
}, CNI_TOOLS);

privilegedTest('applying twice leaves exactly one copy of every rule and jump', async (t) => {
  const node = createCniNode(t);
  const pod = await node.newPod('web', 'shop');
  await applyInpodRules(pod.netns, { ipv6: false });
  const once = ourLines(iptablesSave(pod.netns));
  await applyInpodRules(pod.netns, { ipv6: false });
  t.deepEqual(ourLines(iptablesSave(pod.netns)), once);
  t.is(sh('nsenter', [`--net=${pod.netns}`, 'ip', 'rule', 'show', 'pref', '32764']).trim().split('\n').length, 1);
}, CNI_TOOLS);

privilegedTest('IPv6 pods get ip6tables rules and IPv6 policy routing too', async (t) => {
  const node = createCniNode(t);
  const pod = await node.newPod('web', 'shop');
  await applyInpodRules(pod.netns, { ipv6: true });
  const save6 = iptablesSave(pod.netns, 6);
  t.true(save6.includes('-A ISTIO_OUTPUT ! -d ::1/128 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001'));
  t.regex(sh('nsenter', [`--net=${pod.netns}`, 'ip', '-6', 'route', 'show', 'table', '100']), /^local default dev lo/m);
  t.deepEqual(await checkInpodRules(pod.netns, { ipv6: true }), []);
  await removeInpodRules(pod.netns);
  t.deepEqual(ourLines(iptablesSave(pod.netns, 6)), []);
}, CNI_TOOLS);

privilegedTest('check names a rule deleted by hand, and a missing policy route', async (t) => {
  const node = createCniNode(t);
  const pod = await node.newPod('web', 'shop');
  await applyInpodRules(pod.netns, { ipv6: false });
  sh('nsenter', [`--net=${pod.netns}`, 'iptables', '-t', 'nat', '-D', 'ISTIO_OUTPUT', '!', '-d', '127.0.0.1/32', '-p', 'tcp', '-m', 'mark', '!', '--mark', '0x539/0xfff', '-j', 'REDIRECT', '--to-ports', '15001']);
  sh('nsenter', [`--net=${pod.netns}`, 'ip', 'rule', 'del', 'fwmark', '0x111/0xfff', 'pref', '32764', 'lookup', '100']);
  const problems = await checkInpodRules(pod.netns, { ipv6: false });
  t.is(problems.length, 2, problems.join('\n'));
  t.regex(problems[0]!, /nat ISTIO_OUTPUT differs.*--to-ports 15001/);
  t.regex(problems[1]!, /ip -4 rule .* is missing/);
}, CNI_TOOLS);

privilegedTest('removal is complete, idempotent, and fine once the netns is gone', async (t) => {
  const node = createCniNode(t);
  const pod = await node.newPod('web', 'shop');
  const rules = () => iptablesSave(pod.netns).split('\n').filter((l) => l.startsWith('-A') || l.startsWith(':ISTIO'));
  const before = rules();
  await applyInpodRules(pod.netns, { ipv6: false });
  await removeInpodRules(pod.netns);
  await removeInpodRules(pod.netns);
  t.deepEqual(rules(), before);
  t.is(sh('nsenter', [`--net=${pod.netns}`, 'ip', 'rule', 'show', 'pref', '32764']).trim(), '');
  sh('ip', ['netns', 'del', pod.netns.split('/').pop()!]);
  await t.notThrowsAsync(removeInpodRules(pod.netns));
}, CNI_TOOLS);

privilegedTest('ADD through the CNI chain with the agent down fails with code 11 and leaves no rules', async (t) => {
  const node = createCniNode(t);
  const pod = await node.newPod('web', 'shop');
  const list = node.conflist(noAgent);
  const bridge = await execPlugin('bridge', podEnv('ADD', pod, node.opts), { ...list.plugins[0], cniVersion: '1.0.0', name: list.name }, node.opts);
  t.is(bridge.code, 0, bridge.stdout);
  const run = await execPlugin('meshnode-cni', podEnv('ADD', pod, node.opts), { ...list.plugins[1], cniVersion: '1.0.0', name: list.name, prevResult: JSON.parse(bridge.stdout) }, node.opts);
  t.is(run.code, 1);
  const err = JSON.parse(run.stdout);
  t.is(err.code, 11);
  t.is(err.cniVersion, '1.0.0');
  t.regex(err.details, /\/nonexistent\/meshnode\/cni\.sock/);
  t.deepEqual(ourLines(iptablesSave(pod.netns)), []);
  t.regex(sh('cat', [`${node.dir}/cni.log`]), /meshnode agent unreachable/);
}, CNI_TOOLS);

privilegedTest('DEL succeeds twice, after the netns is deleted, and without CNI_NETNS', async (t) => {
  const node = createCniNode(t);
  const pod = await node.newPod('web', 'shop');
  const conf = { ...node.conflist(noAgent).plugins[1], cniVersion: '1.0.0', name: 'mntest' };
  await applyInpodRules(pod.netns, { ipv6: false });
  for (let i = 0; i < 2; i++) {
    const run = await execPlugin('meshnode-cni', podEnv('DEL', pod, node.opts), conf, node.opts);
    t.is(run.code, 0, run.stdout);
    t.is(run.stdout, '');
  }
  t.deepEqual(ourLines(iptablesSave(pod.netns)), [], 'DEL removes the rules even when the agent is down');
  sh('ip', ['netns', 'del', pod.netns.split('/').pop()!]);
  t.is((await execPlugin('meshnode-cni', podEnv('DEL', pod, node.opts), conf, node.opts)).code, 0);
  const env = podEnv('DEL', pod, node.opts);
  delete env.CNI_NETNS;
  t.is((await execPlugin('meshnode-cni', env, conf, node.opts)).code, 0);
}, CNI_TOOLS);
