import { chainAdd, chainDel, loopbackUp, type ChainOptions, type CniPod, type ConfList } from './cni-chain.js';
import { exec, type Resources } from './system.js';
import type { DemoNode, DemoPod, Topology } from './topology.js';

export const DEBIAN_CNI_DIR = '/usr/lib/cni';

/** `ip -n <netns> ...` */
const ipIn = (netns: string, ...args: string[]) => exec('ip', ['-n', netns, ...args]);

/**
 * Two node namespaces joined by a veth pair created directly inside them, so the machine's own
 * interfaces, routes and sysctls are never touched. Each node routes the other's pod subnet.
 */
export async function createNodes(t: Topology, res: Resources): Promise<void> {
  for (const node of t.nodes) {
    await exec('ip', ['netns', 'add', node.netns]);
    res.add(`delete netns ${node.netns}`, () => exec('ip', ['netns', 'del', node.netns]).then(() => undefined));
    await ipIn(node.netns, 'link', 'set', 'lo', 'up');
  }
  // Forwarding between the uplink and the pod bridge is switched on inside each node netns by
  // the bridge plugin (isGateway), as on a real node.
  const [a, b] = t.nodes;
  await ipIn(a.netns, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', b.netns);
  for (const [node, other] of [[a, b], [b, a]] as const) {
    await ipIn(node.netns, 'addr', 'add', `${node.linkAddress}/24`, 'dev', 'uplink');
    await ipIn(node.netns, 'link', 'set', 'uplink', 'up');
    await ipIn(node.netns, 'route', 'add', other.podSubnet, 'via', other.linkAddress);
  }
}

/**
 * The VM: a netns joined to node-a by its own veth (192.168.78.0/24) with a default route through
 * node-a, which forwards between it and node-b (node-b routes the VM's subnet via node-a).
 */
export async function createVm(t: Topology, res: Resources): Promise<void> {
  const [a, b] = t.nodes;
  const vm = t.vm;
  await exec('ip', ['netns', 'add', vm.netns]);
  res.add(`delete netns ${vm.netns}`, () => exec('ip', ['netns', 'del', vm.netns]).then(() => undefined));
  await ipIn(vm.netns, 'link', 'set', 'lo', 'up');
  await ipIn(a.netns, 'link', 'add', 'vmlink', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm.netns);
  const prefix = vm.subnet.split('/')[1]!;
  await ipIn(a.netns, 'addr', 'add', `${vm.gateway}/${prefix}`, 'dev', 'vmlink');
  await ipIn(vm.netns, 'addr', 'add', `${vm.address}/${prefix}`, 'dev', 'eth0');
  await ipIn(a.netns, 'link', 'set', 'vmlink', 'up');
  await ipIn(vm.netns, 'link', 'set', 'eth0', 'up');
  await ipIn(vm.netns, 'route', 'add', 'default', 'via', vm.gateway);
  await ipIn(b.netns, 'route', 'add', vm.subnet, 'via', a.linkAddress);
  await exec('ip', ['netns', 'exec', a.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}

/** The node's conflist for one pod: bridge with static IPAM (fixed address), then meshnode-cni. */
export function podConflist(node: DemoNode, pod: DemoPod, dir: string): ConfList {
  return {
    cniVersion: '1.0.0', name: 'meshnode-demo',
    plugins: [
      {
        type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false,
        ipam: { type: 'static', addresses: [{ address: `${pod.ip}/24`, gateway: node.podGateway }], routes: [{ dst: '0.0.0.0/0', gw: node.podGateway }] },
      },
      { type: 'meshnode-cni', agentSocket: `${dir}/${node.name}/cni.sock`, logFile: `${dir}/${node.name}/cni.log` },
    ],
  };
}

export function cniPod(pod: DemoPod): CniPod {
  return {
    netns: `/var/run/netns/${pod.netns}`, containerId: `demo-${pod.netns}`, ifname: 'eth0',
    namespace: pod.namespace, name: pod.name, uid: pod.uid,
  };
}

/**
 * Creates a pod the way a container runtime does: `ip netns add`, the loopback plugin, then the
 * node's conflist ADD with CNI environment variables, run in the node's netns. Release runs the
 * conflist DEL with the saved result, then deletes the netns.
 */
export async function createPod(pod: DemoPod, res: Resources, dir: string, cniBinDir: string): Promise<{ result: unknown; ms: number }> {
  const opts: ChainOptions = { cniPath: [DEBIAN_CNI_DIR, cniBinDir], runIn: pod.node.netns };
  const list = podConflist(pod.node, pod, dir);
  const cp = cniPod(pod);
  await exec('ip', ['netns', 'add', pod.netns]);
  res.add(`delete netns ${pod.netns}`, () => exec('ip', ['netns', 'del', pod.netns]).then(() => undefined));
  await loopbackUp(cp, opts);
  const { result, runs } = await chainAdd(list, cp, opts);
  res.add(`CNI DEL for ${pod.namespace}/${pod.name}`, () => chainDel(list, cp, result, opts).then(() => undefined));
  return { result, ms: runs.reduce((sum, r) => sum + r.durationMs, 0) };
}
