import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { shippedScript } from '../base/install-layout.js';
import { MESHNODE_MAIN, SAMPLE_APP, startAgent, startCa, startSampleServer } from './control-plane.js';
import { meshConfigYaml } from './mesh-config.js';
import { createNodes, createPod, createVm } from './network.js';
import { bootstrapVm, startVmAgent, throwawayUid } from './vm.js';
import { preflight } from './preflight.js';
import { STEPS, type DemoState } from './steps.js';
import { Resources, exec, type Daemon } from './system.js';
import { topology, type DemoNode, type DemoPod, type Topology } from './topology.js';
import { bold, dim, green, pause, progress, red, say } from './ui.js';

export interface DemoOptions {
  readonly keep: boolean;
  readonly interactive: boolean;
}

const CNI_MAIN = shippedScript('cni/main.js');

async function captured(pod: DemoPod): Promise<boolean> {
  const save = await exec('nsenter', [`--net=/var/run/netns/${pod.netns}`, 'iptables-save', '-t', 'nat']);
  return save.includes('-j ISTIO_OUTPUT');
}

const agentSpec = (t: Topology, node: DemoNode, dir: string) => ({
  netns: node.netns, caDir: dir, caAddress: t.caAddress, dir: `${dir}/${node.name}`, node: node.name,
  config: `${dir}/mesh.yaml`, trustDomain: t.trustDomain,
});

async function setUp(t: Topology, res: Resources, dir: string): Promise<DemoState> {
  say(bold('Setting up'));
  writeFileSync(`${dir}/mesh.yaml`, meshConfigYaml(t));
  mkdirSync(`${dir}/bin`);
  symlinkSync(CNI_MAIN, `${dir}/bin/meshnode-cni`);
  for (const node of t.nodes) mkdirSync(`${dir}/${node.name}`);
  // The VM's agent runs as its own user, which reads the mesh config below this directory.
  chmodSync(dir, 0o755);
  chmodSync(`${dir}/mesh.yaml`, 0o644);
  await progress('two nodes: network namespaces joined by a veth (192.168.77.0/24)', () => createNodes(t, res));
  await progress(`a VM, ${t.vm.name}: a network namespace behind node-a (${t.vm.subnet})`, () => createVm(t, res));
  await progress(`built-in CA (meshnode ca) on node-a at ${t.caAddress}`, () => startCa(res, { netns: t.nodes[0].netns, dir, listen: t.caAddress, trustDomain: t.trustDomain }));
  const agents = new Map<string, Daemon>();
  for (const node of t.nodes) {
    agents.set(node.name, await progress(`meshnode agent on ${node.name}`, () => startAgent(res, agentSpec(t, node, dir)), () => 'ready'));
  }
  for (const pod of t.pods) {
    await progress(`pod ${pod.namespace}/${pod.name} on ${pod.node.name}, ${pod.ip}: bridge + static IPAM + meshnode-cni`,
      async () => ({ ...(await createPod(pod, res, dir, `${dir}/bin`)), captured: await captured(pod) }),
      (r) => r.captured ? `→ in the mesh, traffic captured (CNI ADD ${Math.round(r.ms)} ms)` : '→ not in the mesh, left untouched');
  }
  const vmDir = `${dir}/${t.vm.name}`;
  const vm = t.vm;
  await progress(`meshnode vm bootstrap for ${vm.namespace}/${vm.name}: root cert, a 1h token, agent settings`, () => bootstrapVm(
    { name: vm.name, namespace: vm.namespace, serviceAccount: vm.serviceAccount, address: vm.address, ports: { http: vm.serves }, labels: { app: 'billing' } },
    { out: vmDir, node: vm.name, caDir: `${dir}/ca`, caAddress: t.caAddress, tokens: `${dir}/ca-tokens.yaml`, trustDomain: t.trustDomain }));
  const uid = throwawayUid();
  const vmAgent = await progress(`meshnode agent --host-mode on ${vm.name}, as uid ${uid} with CAP_NET_ADMIN and CAP_NET_RAW only`,
    () => startVmAgent(res, { netns: vm.netns, dir: vmDir, node: vm.name, config: `${dir}/mesh.yaml`, caAddress: t.caAddress, trustDomain: t.trustDomain, uid }), () => 'ready');
  const vmServer = await progress(`sample server on ${vm.name} on :${vm.serves}`, () => startSampleServer(res, vm.netns, `${vm.namespace}/${vm.name}`, vm.serves, `${vmDir}/app.log`));
  const servers = new Map<string, Daemon>();
  for (const pod of t.pods.filter((p) => p.serves !== undefined)) {
    servers.set(pod.name, await progress(`sample server in ${pod.namespace}/${pod.name} on :${pod.serves}`, () => startSampleServer(res, pod.netns, `${pod.namespace}/${pod.name}`, pod.serves!, `${dir}/${pod.name}-app.log`)));
  }
  return { topology: t, agents, servers, vm: { agent: vmAgent, server: vmServer } };
}

async function runSteps(state: DemoState, opts: DemoOptions): Promise<number> {
  let failed = 0;
  for (const [i, step] of STEPS.entries()) {
    if (opts.interactive) await pause('\npress Enter for the next step ');
    say();
    say(bold(`${i + 1}. ${step.title}`));
    say(dim(`   ${step.expect}`));
    const outcome = await step.run(state).catch((err: Error) => ({ ok: false, lines: [`error: ${err.message}`] }));
    for (const line of outcome.lines) say(`   ${line}`);
    say(outcome.ok ? `   ${green('✓ as expected')}` : `   ${red('✗ not what should happen')}`);
    if (!outcome.ok) failed++;
  }
  return failed;
}

function tryCommands(t: Topology, dir: string): void {
  const [frontend, cart] = [t.pods.find((p) => p.name === 'frontend')!, t.pods.find((p) => p.name === 'cart')!];
  const app = `${process.execPath} ${SAMPLE_APP}`;
  say();
  say(bold('The mesh keeps running. Try:'));
  say(`  ip netns exec ${frontend.netns} ${app} call ${cart.ip}:${cart.serves}`);
  say(`  ip netns exec ${t.nodes[1].netns} node ${MESHNODE_MAIN} ctl status`);
  say(`  ip netns exec ${t.nodes[1].netns} node ${MESHNODE_MAIN} ctl connections`);
  say(`  ip netns exec ${t.nodes[1].netns} node ${MESHNODE_MAIN} ctl tls-check shop/frontend shop/cart`);
  say(`  ip netns exec ${t.nodes[1].netns} ${app} get http://127.0.0.1:15020/metrics`);
  say(`  nsenter --net=/var/run/netns/${cart.netns} iptables-save -t nat`);
  say(`  tail -f ${dir}/node-b/agent.log`);
  say(`  ip netns exec ${t.vm.netns} ${app} call ${cart.ip}:${cart.serves}      (from the VM)`);
  say(`  ip netns exec ${t.vm.netns} node ${MESHNODE_MAIN} host-rules check --state-dir ${dir}/${t.vm.name}/state`);
  say(`  edit ${dir}/mesh.yaml (the agents reload it), e.g. delete the cart-callers policy`);
  say(`  node ${MESHNODE_MAIN} authz check --config ${dir}/mesh.yaml --to shop/cart --port ${cart.serves} --from-ip ${frontend.ip} --from-identity spiffe://${t.trustDomain}/ns/shop/sa/reviews`);
  say(dim('Press Ctrl-C to remove everything.'));
}

/** `meshnode demo`: set up, show each step, clean up (also on Ctrl-C). Exit 0 only if every step behaved. */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const problems = preflight();
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`meshnode demo: ${p}\n`);
    return 1;
  }
  // Chained plugins are started with the runtime's PATH; meshnode-cni needs `node` on it.
  process.env.PATH = [dirname(process.execPath), process.env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'].filter(Boolean).join(':');
  const t = topology(randomBytes(2).toString('hex'));
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-demo-'));
  const res = new Resources();
  res.add(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }));
  let cleaning: Promise<void> | undefined;
  const cleanUp = () => cleaning ??= (async () => {
    say();
    await progress('removing everything the demo created', () => res.releaseAll((what, err) => process.stderr.write(`  could not ${what}: ${err.message}\n`)));
  })();
  const interrupted = new Promise<number>((resolve) => {
    const onSignal = () => { void cleanUp().then(() => resolve(130)); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  say(bold(`meshnode demo`) + dim(` — a two-node mesh and a VM in network namespaces (run ${t.id}, files in ${dir})`));
  say();
  const main = (async () => {
    try {
      const state = await setUp(t, res, dir);
      const failed = await runSteps(state, opts);
      say();
      say(failed === 0 ? green(bold('Every step behaved as shown.')) : red(bold(`${failed} step(s) did not behave as expected; logs are in ${dir}`)));
      if (opts.keep) {
        tryCommands(t, dir);
        return interrupted;
      }
      await cleanUp();
      return failed === 0 ? 0 : 1;
    } catch (err) {
      process.stderr.write(`\nmeshnode demo: ${(err as Error).message}\n`);
      await cleanUp();
      return 1;
    }
  })();
  return Promise.race([main, interrupted]);
}
