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
export const CNI_TOOLS = ['ip', 'nsenter', 'iptables-save', 'iptables-restore', `${DEBIAN_CNI}/bridge`, `${DEBIAN_CNI}/host-local`];

export interface CniNode {
  readonly name: string;
  readonly dir: string;
  readonly opts: ChainOptions;
  conflist(meshnode: Record<string, unknown>): ConfList;
  /** Creates a pod netns (`ip netns add`) and brings its loopback up; removed on teardown. */
  newPod(name: string, namespace: string): Promise<CniPod>;
  /** Creates the pod and runs the whole conflist ADD for it. */
  addPod(name: string, namespace: string, meshnode: Record<string, unknown>): Promise<{ pod: CniPod; result: unknown }>;
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
  t.teardown(() => {
    for (const p of pods) { try { sh('ip', ['netns', 'del', p]); } catch { /* already gone */ } }
    try { sh('ip', ['netns', 'del', name]); } catch { /* already gone */ }
    rmSync(dir, { recursive: true, force: true });
  });
  const opts: ChainOptions = { cniPath: [DEBIAN_CNI, bin], runIn: name };
  // The plugins run with the PATH the runtime gives; meshnode-cni needs `node` on it.
  process.env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  const node: CniNode = {
    name, dir, opts,
    conflist: (meshnode) => ({
      cniVersion: '1.0.0', name: 'mntest',
      plugins: [
        { type: 'bridge', bridge: 'mnbr0', isGateway: true, ipMasq: false,
          ipam: { type: 'host-local', dataDir: join(dir, 'ipam'), ranges: [[{ subnet: '10.77.0.0/24', gateway: '10.77.0.1' }]], routes: [{ dst: '0.0.0.0/0' }] } },
        { type: 'meshnode-cni', logFile: join(dir, 'cni.log'), ...meshnode },
      ],
    }),
    async newPod(podName, namespace) {
      const netnsName = uniqueName('mncp');
      sh('ip', ['netns', 'add', netnsName]);
      pods.push(netnsName);
      const pod: CniPod = { netns: `/var/run/netns/${netnsName}`, containerId: `ctr-${netnsName}`, ifname: 'eth0', namespace, name: podName, uid: `uid-${netnsName}` };
      await loopbackUp(pod, opts);
      return pod;
    },
    async addPod(podName, namespace, meshnode) {
      const pod = await node.newPod(podName, namespace);
      const { result } = await chainAdd(node.conflist(meshnode), pod, opts);
      return { pod, result };
    },
  };
  return node;
}
