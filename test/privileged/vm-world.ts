import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { MESHNODE_MAIN, inNetns, startAgent, startCa, startSampleServer, agentSocketOf, type AgentSpec } from '../../agent/demo/control-plane.js';
import { Resources, exec, type Daemon } from '../../agent/demo/system.js';
import { bootstrapVm, startVmAgent, throwawayUid, type VmSpec } from '../../agent/demo/vm.js';
import { applyInpodRules } from '../../agent/capture/apply.js';
import { Topology, inNs } from '../helpers/topology.js';
import { httpCall } from './agent-harness.js';

/**
 * A "VM" and a "node" in network namespaces, joined by one veth link (IPv4 and IPv6): the node
 * (n1) runs `meshnode ca`, a pod-mode `meshnode agent` and three pods — a (shop, dual-stack), b
 * (shop) and out (legacy, not in the mesh); the VM runs `meshnode agent --host-mode` as a
 * throwaway uid with CAP_NET_ADMIN and CAP_NET_RAW only, a sample server on 8080 (WorkloadEntries
 * shop/vm-app and shop/vm-app6, made by `meshnode vm bootstrap`) and a stand-in for SSH on 22.
 * STRICT mTLS mesh-wide; shop/deny-b denies pod b's identity on the VM workload.
 */
export const TD = 'cluster.local';
export const APP_PORT = 8080;
export const VM_SERVICE_VIP = '10.96.88.10';
export const POD_SERVICE_VIP = '10.96.88.20';
export const VM_ID = `spiffe://${TD}/ns/shop/sa/vm-app`;
export const CA_PORT = 15012;

export interface CallResult { connected: boolean; reply: string; ended: string; error?: string }

export interface VmWorld {
  readonly topo: Topology;
  readonly dir: string;
  readonly vmIp: string;
  readonly vmIp6: string;
  readonly podA6: string;
  readonly vmNetns: string;
  readonly vmSpec: VmSpec;
  readonly vmServer: Daemon;
  vmAgent: Daemon;
  readonly nodeAgent: Daemon;
  readonly ca: Daemon;
  readonly res: Resources;
  /** The sample app's `call` from a netns (as root: an application, never the agent's uid). */
  call(fromNetns: string, target: string): Promise<CallResult>;
  /** `meshnode host-rules VERB` inside the VM; its exit code and output. */
  hostRules(verb: 'check' | 'remove'): Promise<{ code: number; out: string }>;
  stopVmAgent(): Promise<void>;
}

function addIpv6(topo: Topology, r: string): { vmIp6: string; podA6: string } {
  const n1 = topo.node('n1');
  const vm = topo.node('vm');
  const a = topo.pod('a');
  const [link, pods] = [`fd7e:${r}::`, `fd7d:${r}::`];
  inNs(n1.netns, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  inNs(n1.netns, 'ip', ['-6', 'addr', 'add', `${link}1/64`, 'dev', n1.linkDev, 'nodad']);
  inNs(vm.netns, 'ip', ['-6', 'addr', 'add', `${link}2/64`, 'dev', vm.linkDev, 'nodad']);
  inNs(n1.netns, 'ip', ['-6', 'addr', 'add', `${pods}1/64`, 'dev', 'br0', 'nodad']);
  inNs(a.netns, 'ip', ['-6', 'addr', 'add', `${pods}a/64`, 'dev', 'eth0', 'nodad']);
  inNs(a.netns, 'ip', ['-6', 'route', 'add', 'default', 'via', `${pods}1`]);
  inNs(vm.netns, 'ip', ['-6', 'route', 'add', `${pods}/64`, 'via', `${link}1`]);
  // A VM has a default route; service VIPs are routed (and captured on the way out) by it.
  inNs(vm.netns, 'ip', ['route', 'add', 'default', 'via', n1.linkAddress]);
  return { vmIp6: `${link}2`, podA6: `${pods}a` };
}

function meshYaml(topo: Topology, podA6: string, entries: object[]): string {
  const pod = (name: string, ns: string, ips: string[]) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, uid: `uid-${name}`, labels: { app: name } },
    spec: { serviceAccountName: name, nodeName: 'n1' }, status: { phase: 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  });
  const service = (name: string, vip: string, app: string) => ({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' },
    spec: { clusterIP: vip, selector: { app }, ports: [{ name: 'http', port: 80, targetPort: APP_PORT }] },
  });
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } },
    pod('a', 'shop', [topo.pod('a').ip, podA6]), pod('b', 'shop', [topo.pod('b').ip]), pod('out', 'legacy', [topo.pod('out').ip]),
    ...entries,
    service('vm-app', VM_SERVICE_VIP, 'vm-app'), service('a', POD_SERVICE_VIP, 'a'),
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } },
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny-b', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'vm-app' } }, action: 'DENY', rules: [{ from: [{ source: { principals: [`${TD}/ns/shop/sa/b`] } }] }] } },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

async function registerPod(socket: string, name: string, netns: string, ips: string[]): Promise<void> {
  const reply = await httpCall({ socketPath: socket }, 'POST', '/v1/pods', JSON.stringify({ uid: `uid-${name}`, namespace: 'shop', name, netns, ips }));
  if (reply.status >= 300) throw new Error(`registering pod ${name}: ${reply.status} ${reply.body}`);
}

export async function buildVmWorld(t: ExecutionContext, vmFlags: readonly string[] = []): Promise<VmWorld> {
  const topo = Topology.build({ nodes: { n1: ['a', 'b', 'out'], vm: [] } });
  t.teardown(() => topo.destroy());
  const res = new Resources();
  t.teardown(() => res.releaseAll((what, err) => t.log(`cleanup: could not ${what}: ${err.message}`)));
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-vm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The agent's uid reads the mesh config and its own files below this directory.
  chmodSync(dir, 0o755);
  // A group without leading zeros, so the addresses are written as the agent logs them.
  const { vmIp6, podA6 } = addIpv6(topo, (0x1000 + randomBytes(2).readUInt16BE() % 0xf000).toString(16));
  const n1 = topo.node('n1');
  const vm = topo.node('vm');
  const vmIp = vm.linkAddress;
  const caAddress = `${n1.linkAddress}:${CA_PORT}`;
  const vmDir = join(dir, 'vm');
  const entry = { name: 'vm-app', namespace: 'shop', serviceAccount: 'vm-app', address: vmIp, ports: { http: APP_PORT }, labels: { app: 'vm-app' } };
  const ca = await startCa(res, { netns: n1.netns, dir, listen: caAddress, trustDomain: TD });
  await bootstrapVm(entry, { out: vmDir, node: 'vm', caDir: join(dir, 'ca'), caAddress, tokens: join(dir, 'ca-tokens.yaml'), trustDomain: TD });
  const we = parse(readFileSync(join(vmDir, 'workload-entry.yaml'), 'utf8')) as { metadata: { name: string }; spec: { address: string } };
  const we6 = { ...we, metadata: { ...we.metadata, name: 'vm-app6' }, spec: { ...we.spec, address: vmIp6 } };
  const config = join(dir, 'mesh.yaml');
  writeFileSync(config, meshYaml(topo, podA6, [we, we6]));
  chmodSync(config, 0o644);

  mkdirSync(join(dir, 'n1'));
  const nodeSpec: AgentSpec = { netns: n1.netns, caDir: dir, caAddress, dir: join(dir, 'n1'), node: 'n1', config, trustDomain: TD };
  const nodeAgent = await startAgent(res, nodeSpec);
  for (const [name, ips] of [['a', [topo.pod('a').ip, podA6]], ['b', [topo.pod('b').ip]]] as const) {
    const p = topo.pod(name);
    await applyInpodRules(p.path, { ipv6: ips.length > 1 });
    await registerPod(agentSocketOf(nodeSpec), name, p.path, [...ips]);
  }
  await startSampleServer(res, topo.pod('a').netns, 'shop/a', APP_PORT, join(dir, 'a-app.log'));
  const vmServer = await startSampleServer(res, vm.netns, 'shop/vm-app', APP_PORT, join(dir, 'vm-app.log'));
  await startSampleServer(res, vm.netns, 'sshd', 22, join(dir, 'vm-ssh.log'));

  const vmSpec: VmSpec = { netns: vm.netns, dir: vmDir, node: 'vm', config, caAddress, trustDomain: TD, uid: throwawayUid(), flags: vmFlags };
  const world: VmWorld = {
    topo, dir, vmIp, vmIp6, podA6, vmNetns: vm.netns, vmSpec, vmServer, nodeAgent, ca, res,
    vmAgent: await startVmAgent(res, vmSpec),
    async call(fromNetns, target) {
      return JSON.parse(await inNetns(fromNetns, ['call', target, '--timeout', '4000'])) as CallResult;
    },
    async hostRules(verb) {
      try {
        return { code: 0, out: await exec('ip', ['netns', 'exec', vm.netns, process.execPath, MESHNODE_MAIN, 'host-rules', verb, '--state-dir', join(vmDir, 'state')]) };
      } catch (err) {
        return { code: 1, out: (err as Error).message };
      }
    },
    async stopVmAgent() {
      const agent = world.vmAgent;
      if (agent.exited) return;
      const gone = new Promise((r) => agent.child.once('exit', r));
      agent.child.kill('SIGTERM');
      await gone;
    },
  };
  return world;
}
