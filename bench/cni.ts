import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { execPlugin, loopbackUp, podEnv, type ChainOptions, type CniPod } from '../agent/demo/cni-chain.js';
import { agentSocketOf, startAgent, startCa, type AgentSpec } from '../agent/demo/control-plane.js';
import { Resources, exec } from '../agent/demo/system.js';
import { shippedScript } from '../agent/base/install-layout.js';
import type { BenchResult } from './result.js';

/**
 * CNI ADD latency as a runtime sees it: the time from starting `meshnode-cni` (a new Node process,
 * exactly as a runtime executes it) to its exit, for enrolled pods — enrolment query, iptables
 * rules in the pod netns, host probe SNAT rule, registration with a real agent (which answers once
 * the pod's listeners are open). Also pass-through ADD for pods outside the mesh, DEL, and the bare
 * process start-up (VERSION) that every call pays. Needs root; runs in a private netns.
 */
const ENROLLED = 40;
const NOT_ENROLLED = 15;
const CNI_MAIN = shippedScript('cni/main.js');

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(name: string, samples: number[], target?: string): BenchResult[] {
  const s = [...samples].sort((a, b) => a - b);
  // Every call goes through `ip netns exec <node>` (the bench's node is a netns), which a real
  // runtime does not pay; the VERSION line shows that fixed cost plus Node's start-up.
  return [
    { name: `${name} p50`, value: percentile(s, 50), unit: 'ms', ...(target ? { target } : {}), note: `${s.length} calls, incl. ip netns exec` },
    { name: `${name} p95`, value: percentile(s, 95), unit: 'ms' },
  ];
}

interface Pod extends CniPod { readonly ip: string; readonly netnsName: string }

function planPods(id: string): Pod[] {
  return Array.from({ length: ENROLLED + NOT_ENROLLED }, (_, i) => {
    const netnsName = `mnb${id}-${i}`;
    return { netnsName, netns: `/var/run/netns/${netnsName}`, containerId: `bench-${netnsName}`, ifname: 'eth0',
      namespace: i < ENROLLED ? 'shop' : 'legacy', name: `pod-${i}`, uid: `bench-${id}-${i}`, ip: `10.79.${i >> 8}.${(i & 255) + 2}` };
  });
}

function meshYaml(pods: readonly Pod[]): string {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } },
    ...pods.map((p) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace, uid: p.uid },
      spec: { serviceAccountName: `sa-${p.name}`, nodeName: 'bench' }, status: { podIP: p.ip } })),
  ].map((d) => stringify(d)).join('---\n');
}

/** A node netns with the CA and a real agent in it; returns meshnode-cni's config for it. */
async function startNode(res: Resources, node: string, dir: string, pods: readonly Pod[]): Promise<Record<string, unknown>> {
  await exec('ip', ['netns', 'add', node]);
  res.add('delete node netns', () => exec('ip', ['netns', 'del', node]).then(() => undefined));
  await exec('ip', ['-n', node, 'link', 'set', 'lo', 'up']);
  writeFileSync(`${dir}/mesh.yaml`, meshYaml(pods));
  await startCa(res, { netns: node, dir, listen: '127.0.0.1:15012', trustDomain: 'cluster.local' });
  const spec: AgentSpec = { netns: node, caDir: dir, caAddress: '127.0.0.1:15012', dir, node: 'bench', config: `${dir}/mesh.yaml`, trustDomain: 'cluster.local' };
  await startAgent(res, spec);
  mkdirSync(`${dir}/bin`);
  symlinkSync(CNI_MAIN, `${dir}/bin/meshnode-cni`);
  return { cniVersion: '1.0.0', name: 'bench', type: 'meshnode-cni', agentSocket: agentSocketOf(spec), logFile: `${dir}/cni.log` };
}

/** Creates each pod (netns, loopback, bridge) untimed, then times meshnode-cni ADD, VERSION and DEL. */
async function measure(res: Resources, pods: readonly Pod[], conf: Record<string, unknown>, opts: ChainOptions): Promise<BenchResult[]> {
  const bridge = (p: Pod) => ({ cniVersion: '1.0.0', name: 'bench', type: 'bridge', bridge: 'mnbr0', isGateway: true,
    ipam: { type: 'static', addresses: [{ address: `${p.ip}/16` }] } });
  const [enrolled, passThrough, del, version]: number[][] = [[], [], [], []];
  for (const p of pods) {
    await exec('ip', ['netns', 'add', p.netnsName]);
    res.add(`delete ${p.netnsName}`, () => exec('ip', ['netns', 'del', p.netnsName]).then(() => undefined));
    await loopbackUp(p, opts);
    const b = await execPlugin('bridge', podEnv('ADD', p, opts), bridge(p), opts);
    if (b.code !== 0) throw new Error(`bridge ADD failed: ${b.stdout}`);
    const add = await execPlugin('meshnode-cni', podEnv('ADD', p, opts), { ...conf, prevResult: JSON.parse(b.stdout) }, opts);
    if (add.code !== 0) throw new Error(`meshnode-cni ADD failed: ${add.stdout}`);
    (p.namespace === 'shop' ? enrolled : passThrough).push(add.durationMs);
    version.push((await execPlugin('meshnode-cni', { CNI_COMMAND: 'VERSION', PATH: process.env.PATH }, { cniVersion: '1.0.0' }, opts)).durationMs);
  }
  for (const p of pods.filter((x) => x.namespace === 'shop')) {
    del.push((await execPlugin('meshnode-cni', podEnv('DEL', p, opts), conf, opts)).durationMs);
  }
  return [
    ...summary('CNI ADD, enrolled pod (rules + agent registration)', enrolled, 'p50 ≤ 150 ms'),
    ...summary('CNI ADD, pod outside the mesh (pass-through)', passThrough),
    ...summary('CNI DEL, enrolled pod', del),
    ...summary('meshnode-cni process start-up (VERSION)', version),
  ];
}

export async function run(): Promise<BenchResult[]> {
  if (process.getuid?.() !== 0) return [{ name: 'CNI ADD latency', value: 0, unit: 'ms', note: 'skipped: needs root (network namespaces)' }];
  process.env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  const id = randomBytes(2).toString('hex');
  const node = `mnbench${id}`;
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-bench-cni-'));
  const res = new Resources();
  res.add('remove dir', async () => rmSync(dir, { recursive: true, force: true }));
  try {
    const pods = planPods(id);
    const conf = await startNode(res, node, dir, pods);
    return await measure(res, pods, conf, { cniPath: ['/usr/lib/cni', `${dir}/bin`], runIn: node });
  } finally {
    await res.releaseAll(() => undefined);
  }
}
