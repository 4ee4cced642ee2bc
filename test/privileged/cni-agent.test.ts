import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chainCheck, chainDel, execPlugin, podEnv, CniChainError } from '../../agent/demo/cni-chain.js';
import { AgentClient } from '../../cni/agent-client.js';
import { checkInpodRules } from '../../agent/capture/apply.js';
import { waitFor } from '../../agent/demo/system.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, createCniNode, iptablesSave, sh } from './cni-harness.js';
import { startTestMesh, webPodWithStoppedAgent } from './cni-mesh.js';

const TOOLS = [...CNI_TOOLS, '/usr/lib/cni/static', 'tcpdump'];
const ours = (save: string) => save.split('\n').filter((l) => l.includes('ISTIO_'));
const hostProbeRules = (node: string) => sh('ip', ['netns', 'exec', node, 'iptables-save', '-t', 'nat']).split('\n').filter((l) => l.startsWith('-A MESHNODE_POSTRT'));

privilegedTest('an enrolled pod gets the in-pod rules, a host probe SNAT rule and a registration; CHECK passes', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  const result = await node.addPod(web, mesh.meshnode);
  t.deepEqual(await checkInpodRules(web.netns, { ipv6: false }), []);
  t.true(iptablesSave(web.netns).includes('-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001'));
  t.deepEqual(hostProbeRules(node.name), [`-A MESHNODE_POSTRT -d ${web.ip}/32 -p tcp -m owner --socket-exists -m comment --comment "meshnode pod ${web.uid}" -j SNAT --to-source 169.254.7.127`]);
  const reg = await new AgentClient(mesh.agentSocket, 5000).registration(web.uid);
  t.like(reg, { uid: web.uid, namespace: 'shop', name: 'web', netns: web.netns, ips: [web.ip] });
  await t.notThrowsAsync(chainCheck(node.conflist(mesh.meshnode, web.ip), web, result, node.opts));
}, TOOLS);

privilegedTest('a pod outside the mesh is passed through untouched: same result, no rules, no registration', async (t) => {
  const node = createCniNode(t);
  const batch = node.plan('batch', 'legacy');
  const mesh = await startTestMesh(t, node, [batch]);
  await node.create(batch);
  const list = node.conflist(mesh.meshnode, batch.ip);
  const bridge = await execPlugin('bridge', podEnv('ADD', batch, node.opts), { ...list.plugins[0], cniVersion: '1.0.0', name: list.name }, node.opts);
  const run = await execPlugin('meshnode-cni', podEnv('ADD', batch, node.opts), { ...list.plugins[1], cniVersion: '1.0.0', name: list.name, prevResult: JSON.parse(bridge.stdout) }, node.opts);
  t.is(run.code, 0, run.stdout);
  t.deepEqual(JSON.parse(run.stdout), JSON.parse(bridge.stdout));
  t.deepEqual(ours(iptablesSave(batch.netns)), []);
  t.deepEqual(hostProbeRules(node.name), []);
  t.is(await new AgentClient(mesh.agentSocket, 5000).registration(batch.uid), undefined);
}, TOOLS);

privilegedTest('ADD twice keeps one copy of the rules and one registration', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  const result = await node.addPod(web, mesh.meshnode);
  const once = ours(iptablesSave(web.netns));
  const conf = { ...node.conflist(mesh.meshnode, web.ip).plugins[1], cniVersion: '1.0.0', name: 'mntest', prevResult: result };
  const again = await execPlugin('meshnode-cni', podEnv('ADD', web, node.opts), conf, node.opts);
  t.is(again.code, 0, again.stdout);
  t.deepEqual(ours(iptablesSave(web.netns)), once);
  t.is(hostProbeRules(node.name).length, 1);
  const pods = await fetchPods(mesh.agentSocket);
  t.is(pods.filter((p) => p.uid === web.uid).length, 1);
}, TOOLS);

async function fetchPods(socketPath: string): Promise<{ uid: string }[]> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    request({ socketPath, path: '/v1/pods' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(JSON.parse(body) as { uid: string }[]));
    }).on('error', reject).end();
  });
}

privilegedTest('DEL twice unregisters the pod and removes every rule; DEL after the netns is gone succeeds', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  const result = await node.addPod(web, mesh.meshnode);
  const list = node.conflist(mesh.meshnode, web.ip);
  await chainDel(list, web, result, node.opts);
  await chainDel(list, web, result, node.opts);
  t.deepEqual(ours(iptablesSave(web.netns)), []);
  t.deepEqual(hostProbeRules(node.name), []);
  t.is(await new AgentClient(mesh.agentSocket, 5000).registration(web.uid), undefined);
  sh('ip', ['netns', 'del', web.netnsName]);
  await t.notThrowsAsync(chainDel(list, web, result, node.opts));
}, TOOLS);

privilegedTest('CHECK fails with code 102 when a rule was removed and 103 when the registration is gone', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  const result = await node.addPod(web, mesh.meshnode);
  const list = node.conflist(mesh.meshnode, web.ip);
  sh('nsenter', [`--net=${web.netns}`, 'iptables', '-t', 'nat', '-D', 'ISTIO_PRERT', '-s', '169.254.7.127/32', '-p', 'tcp', '-m', 'tcp', '-j', 'ACCEPT']);
  const err = await t.throwsAsync(chainCheck(list, web, result, node.opts), { instanceOf: CniChainError });
  t.is(JSON.parse(err!.run.stdout).code, 102);
  t.regex(JSON.parse(err!.run.stdout).details, /nat ISTIO_PRERT differs.*169\.254\.7\.127/);
  // Put the rules back (ADD is idempotent), then lose the registration instead.
  const conf = { ...list.plugins[1], cniVersion: '1.0.0', name: list.name, prevResult: result };
  t.is((await execPlugin('meshnode-cni', podEnv('ADD', web, node.opts), conf, node.opts)).code, 0);
  await new AgentClient(mesh.agentSocket, 5000).unregister(web.uid);
  const err2 = await t.throwsAsync(chainCheck(list, web, result, node.opts), { instanceOf: CniChainError });
  t.is(JSON.parse(err2!.run.stdout).code, 103);
}, TOOLS);

privilegedTest('ADD with a hung agent fails within agentTimeoutSeconds with code 11 and leaves no rules', async (t) => {
  const { node, web, conf } = await webPodWithStoppedAgent(t, 1);
  const started = Date.now();
  const run = await execPlugin('meshnode-cni', podEnv('ADD', web, node.opts), conf, node.opts);
  t.true(Date.now() - started < 5000);
  t.is(run.code, 1);
  t.is(JSON.parse(run.stdout).code, 11);
  t.regex(JSON.parse(run.stdout).details, /no answer within 1000 ms/);
  t.deepEqual(ours(iptablesSave(web.netns)), []);
  t.deepEqual(hostProbeRules(node.name), []);
}, TOOLS);

privilegedTest('ADD whose registration the agent refuses fails with code 101 and removes the rules it had installed', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  await node.create(web);
  // The agent accepts UIDs up to 256 characters: this one passes the enrolment query (by
  // namespace/name) and the rules step, then the registration is refused.
  const pod = { ...web, uid: 'u'.repeat(300) };
  const conf = { ...node.conflist(mesh.meshnode, web.ip).plugins[1], cniVersion: '1.0.0', name: 'mntest',
    prevResult: { cniVersion: '1.0.0', ips: [{ address: `${web.ip}/24` }] } };
  const run = await execPlugin('meshnode-cni', podEnv('ADD', pod, node.opts), conf, node.opts);
  t.is(run.code, 1);
  t.like(JSON.parse(run.stdout), { code: 101 });
  t.regex(JSON.parse(run.stdout).msg, /agent refused the pod registration/);
  t.deepEqual(ours(iptablesSave(web.netns)), []);
  t.is(sh('nsenter', [`--net=${web.netns}`, 'ip', 'rule', 'show', 'pref', '32764']).trim(), '');
  t.deepEqual(hostProbeRules(node.name), []);
}, TOOLS);

privilegedTest('ADD into a path that is not a network namespace fails with code 100 and leaves nothing', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  const conf = { ...node.conflist(mesh.meshnode, web.ip).plugins[1], cniVersion: '1.0.0', name: 'mntest',
    prevResult: { cniVersion: '1.0.0', ips: [{ address: `${web.ip}/24` }] } };
  const run = await execPlugin('meshnode-cni', { ...podEnv('ADD', web, node.opts), CNI_NETNS: `${node.dir}/agent-token` }, conf, node.opts);
  t.is(run.code, 1);
  t.is(JSON.parse(run.stdout).code, 100);
  t.deepEqual(hostProbeRules(node.name), []);
  t.is(await new AgentClient(mesh.agentSocket, 5000).registration(web.uid), undefined);
}, TOOLS);

function capture(node: string, iface: string, file: string): Promise<() => Promise<string>> {
  const child = spawn('ip', ['netns', 'exec', node, 'tcpdump', '-i', iface, '-n', '--immediate-mode', '-U', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const stop = async () => {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await gone;
    return sh('tcpdump', ['-r', file, '-n', '-A']);
  };
  return waitFor('tcpdump to start', 10_000, () => (err.includes('listening on') ? stop : undefined));
}

privilegedTest('an application in pod A reaches pod B only through HBONE, and still does after an agent restart', async (t) => {
  const node = createCniNode(t);
  const [a, b] = [node.plan('client', 'shop'), node.plan('server', 'shop')];
  const mesh = await startTestMesh(t, node, [a, b]);
  const resultA = await node.addPod(a, mesh.meshnode);
  await node.addPod(b, mesh.meshnode);
  await mesh.serve(b, 8080);
  // The host end of A's veth (the bridge plugin's result lists it second): all of A's traffic.
  const hostVeth = (resultA as { interfaces: { name: string }[] }).interfaces[1]!.name;
  const stop = await capture(node.name, hostVeth, `${node.dir}/hbone.pcap`);
  const reply = JSON.parse(await mesh.app(a.netnsName, ['call', `${b.ip}:8080`]));
  const dump = await stop();
  t.true(reply.reply.startsWith('hello from shop/server'), JSON.stringify(reply) + '\n' + readFileSync(`${node.dir}/agent.log`, 'utf8').slice(-3000));
  t.regex(dump, new RegExp(`${b.ip.replace(/\./g, '\\.')}\\.15008`), 'the connection went to B:15008');
  t.notRegex(dump, new RegExp(`${b.ip.replace(/\./g, '\\.')}\\.8080`), 'nothing went to B:8080 on the wire');
  t.false(dump.includes('ping from the demo'), 'the payload never appears in clear on the wire');

  await mesh.restartAgent();
  t.deepEqual(await checkInpodRules(a.netns, { ipv6: false }), []);
  await t.notThrowsAsync(chainCheck(node.conflist(mesh.meshnode, a.ip), a, resultA, node.opts));
  const after = JSON.parse(await mesh.app(a.netnsName, ['call', `${b.ip}:8080`]));
  t.true(after.reply.startsWith('hello from shop/server'), JSON.stringify(after));
}, TOOLS);

privilegedTest('a dual-stack pod gets ip6tables rules, IPv6 policy routing and an IPv6 probe SNAT rule, and DEL removes them', async (t) => {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  await node.create(web);
  const prevResult = { cniVersion: '1.0.0', ips: [{ address: `${web.ip}/24` }, { address: 'fd00:77::10/64' }] };
  const conf = { ...node.conflist(mesh.meshnode, web.ip).plugins[1], cniVersion: '1.0.0', name: 'mntest', prevResult };
  const add = await execPlugin('meshnode-cni', podEnv('ADD', web, node.opts), conf, node.opts);
  t.is(add.code, 0, add.stdout);
  t.true(iptablesSave(web.netns, 6).includes('-A ISTIO_PRERT ! -d ::1/128 -p tcp -m tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006'));
  t.deepEqual(await checkInpodRules(web.netns, { ipv6: true }), []);
  const v6Host = () => sh('ip', ['netns', 'exec', node.name, 'ip6tables-save', '-t', 'nat']).split('\n').filter((l) => l.startsWith('-A MESHNODE_POSTRT'));
  t.deepEqual(v6Host(), [`-A MESHNODE_POSTRT -d fd00:77::10/128 -p tcp -m owner --socket-exists -m comment --comment "meshnode pod ${web.uid}" -j SNAT --to-source fd16:9254:7127:1337:ffff:ffff:ffff:ffff`]);
  t.is((await execPlugin('meshnode-cni', podEnv('CHECK', web, node.opts), conf, node.opts)).code, 0);
  t.is((await execPlugin('meshnode-cni', podEnv('DEL', web, node.opts), conf, node.opts)).code, 0);
  t.deepEqual(ours(iptablesSave(web.netns, 6)), []);
  t.deepEqual(v6Host(), []);
  t.is(sh('nsenter', [`--net=${web.netns}`, 'ip', '-6', 'rule', 'show', 'pref', '32764']).trim(), '');
}, TOOLS);
