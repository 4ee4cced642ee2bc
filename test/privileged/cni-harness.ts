import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chainAdd, type ChainOptions, type CniPod, type ConfList, loopbackUp } from '../../agent/demo/cni-chain.js';
import { cniBin } from '../helpers/paths.js';
import { uniqueName } from '../helpers/privileged.js';

/**
 * A throwaway "node" for CNI tests: its own netns holding the bridge, with Debian's plugins and
 * meshnode-cni run inside it as a runtime would. Nothing is created in the machine's own netns
 * (the bridge plugin's ip_forward switch stays inside the node netns). Removed on teardown.
 */
export const DEBIAN_CNI = '/usr/lib/cni';
export const CNI_TOOLS = ['ip', 'nsenter', 'iptables-save', 'iptables-restore', 'ip6tables-save', 'ip6tables-restore', `${DEBIAN_CNI}/bridge`, `${DEBIAN_CNI}/host-local`];

export interface PlannedPod extends CniPod {
  /** Fixed address (static IPAM), known before the pod exists so a mesh config can list it. */
  readonly ip: string;
  readonly netnsName: string;
}

export interface CniNode {
  readonly name: string;
  readonly dir: string;
  readonly opts: ChainOptions;
  /** bridge + IPAM (static when `ip` is given, host-local otherwise) + meshnode-cni. */
  conflist(meshnode: Record<string, unknown>, ip?: string): ConfList;
  /** Names, uid and address for a pod, without creating anything. */
  plan(name: string, namespace: string): PlannedPod;
  /** Creates the pod netns (`ip netns add`) and brings its loopback up; removed on teardown. */
  create(pod: PlannedPod): Promise<void>;
  newPod(name: string, namespace: string): Promise<PlannedPod>;
  /** Creates the planned pod and runs the whole conflist ADD for it. */
  addPod(pod: PlannedPod, meshnode: Record<string, unknown>): Promise<unknown>;
}

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function iptablesSave(netns: string, family: 4 | 6 = 4): string {
  return sh('nsenter', [`--net=${netns}`, family === 4 ? 'iptables-save' : 'ip6tables-save']);
}

export function createCniNode(t: ExecutionContext): CniNode {
  const name = uniqueName('mncn');
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-cni-test-'));
  const bin = join(dir, 'bin');
  sh('mkdir', ['-p', bin]);
  symlinkSync(cniBin, join(bin, 'meshnode-cni'));
  const pods: string[] = [];
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  t.teardown(() => {
    for (const p of pods) { try { sh('ip', ['netns', 'del', p]); } catch { /* already gone */ } }
    try { sh('ip', ['netns', 'del', name]); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  });
  const opts: ChainOptions = { cniPath: [DEBIAN_CNI, bin], runIn: name };
  // The plugins run with the PATH the runtime gives; meshnode-cni needs `node` on it.
  process.env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  let nextHost = 10;
  const ipam = (ip?: string) => ip
    ? { type: 'static', addresses: [{ address: `${ip}/24`, gateway: '10.77.0.1' }], routes: [{ dst: '0.0.0.0/0', gw: '10.77.0.1' }] }
    : { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.77.0.0/24', gateway: '10.77.0.1', rangeStart: '10.77.0.100' }]], routes: [{ dst: '0.0.0.0/0' }] };
  const node: CniNode = {
    name, dir, opts,
    conflist: (meshnode, ip) => ({
      cniVersion: '1.0.0', name: 'mntest',
      plugins: [
        { type: 'bridge', bridge: 'mnbr0', isGateway: true, ipMasq: false, ipam: ipam(ip) },
        { type: 'meshnode-cni', logFile: join(dir, 'cni.log'), ...meshnode },
      ],
    }),
    plan(podName, namespace) {
      const netnsName = uniqueName('mncp');
      return { netns: `/var/run/netns/${netnsName}`, netnsName, containerId: `ctr-${netnsName}`, ifname: 'eth0', namespace, name: podName, uid: `uid-${netnsName}`, ip: `10.77.0.${nextHost++}` };
    },
    async create(pod) {
      sh('ip', ['netns', 'add', pod.netnsName]);
      pods.push(pod.netnsName);
      await loopbackUp(pod, opts);
    },
    async newPod(podName, namespace) {
      const pod = node.plan(podName, namespace);
      await node.create(pod);
      return pod;
    },
    async addPod(pod, meshnode) {
      await node.create(pod);
      return (await chainAdd(node.conflist(meshnode, pod.ip), pod, opts)).result;
    },
  };
  return node;
}
