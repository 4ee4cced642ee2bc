import { chmodSync, readFileSync, readdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startAgent, startCa, agentSocketOf, type AgentSpec } from '../agent/demo/control-plane.js';
import { Resources, exec, startDaemon, stopDaemon, waitFor, type Daemon } from '../agent/demo/system.js';
import { bootstrapVm, startVmAgent, throwawayUid } from '../agent/demo/vm.js';
import { applyInpodRules } from '../agent/capture/apply.js';
import { TestCa } from '../test/helpers/test-ca.js';
import { Topology, type TopoPod } from '../test/helpers/topology.js';
import type { BenchResult } from './result.js';
import { ECHO, RELAY_PORTS, SINK, STUNNEL_PORTS, startStunnel, startTlsRelay, writePeerCerts } from './dataplane-peers.js';

/**
 * Data plane, side by side on the same two-node namespace topology (pod a on node n1, pod b on
 * n2, one veth link between the nodes): direct TCP, an stunnel mTLS pair (TLS 1.3, AES-GCM,
 * client certificates, one stunnel per pod), the same pair written with Node's `tls` and nothing
 * else (bench/tls-relay.ts: the runtime's cost without HTTP/2), and meshnode (a real `meshnode
 * agent` per node, its CA, the in-pod redirection rules, HBONE between the nodes). Load and application run as their
 * own processes in the pods (bench/dataplane-load.ts). Bounded to about a minute of load.
 * Then the churn leg: the connection rate through the mesh before and after 100,000 short
 * connections between the two pods.
 * With DATAPLANE_HOST_MODE=1 the meshnode leg's server side is a "VM" instead: node n2's own
 * netns serves the application, as a WorkloadEntry, through `meshnode agent --host-mode`.
 */
const HOST_MODE = process.env.DATAPLANE_HOST_MODE === '1';
export const LOAD = fileURLToPath(new URL('./dataplane-load.js', import.meta.url));
/**
 * The meshnode path gets its own application ports: after the direct phase, thousands of client
 * ports sit in TIME_WAIT towards 7000/7002 and new connections to them pay for the port search.
 */
export const MESH_ECHO = 7010;
export const MESH_SINK = 7012;
const SECONDS = 3;
const LATENCY_REQUESTS = 2000;
const RATE = 1000;
/**
 * CPU is read from /proc in 10 ms ticks: at ~60 ms of CPU per second a 3 s window is ~18 ticks
 * per proxy and one tick more or less moves the result by 5%; 10 s keeps that under 2%.
 */
const RATE_SECONDS = 10;
/** The churn leg: this many short connections from pod a to pod b, then the connection rate again. */
const CHURN_CONNECTIONS = 100_000;
/**
 * What a pod serving that churn sets (both are per-netns sysctls): 100,000 connections in a
 * minute or two from one client IP to one server port need more 4-tuples than the default port
 * range holds in TIME_WAIT, with or without a proxy, so the kernel may reuse a TIME_WAIT tuple
 * after a second (timestamps guard it) and the client may use the whole range.
 */
const CHURN_SYSCTLS = ['net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535'];

interface PathResult {
  mbps: number; p50: number; p99: number; connPerSec: number;
  cpuPer1k?: number; rssIdleMb?: number; rssLoadMb?: number;
  /** CPU milliseconds per MB carried in the single stream: client-side proxy, server-side proxy. */
  cpuMsPerMb?: [number, number];
}

export function load(pod: TopoPod, args: (string | number)[]): Promise<Record<string, number>> {
  return exec('ip', ['netns', 'exec', pod.netns, process.execPath, LOAD, ...args.map(String)])
    .then((out) => JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>);
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.replace(/\D+/g, '') ?? 0) / 1024;
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/**
 * Runs the four measurements against one path; `pids` are the proxy processes (one per side).
 * `idleRss`: their idle RSS, when the caller measured it before something else ran.
 */
async function measure(client: TopoPod, host: string, echo: number, sink: number, pids: number[], idleRss?: number): Promise<PathResult> {
  const rssIdle = idleRss ?? avg(pids.map(rssMb));
  let rssPeak = rssIdle;
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, avg(pids.map(rssMb))); }, 100);
  try {
    const tpCpu0 = pids.map(cpuSeconds);
    const tp = await load(client, ['throughput', host, sink, SECONDS]);
    const perMb = pids.map((p, i) => ((cpuSeconds(p) - tpCpu0[i]!) * 1000) / (tp.bytes! / 1e6));
    const lat = await load(client, ['latency', host, echo, LATENCY_REQUESTS]);
    const cr = await load(client, ['connrate', host, echo, SECONDS, 16]);
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    const rate = await load(client, ['rate', host, echo, RATE, RATE_SECONDS]);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = avg(pids.map((p, i) => cpuSeconds(p) - cpu0[i]!)) / elapsed;
    const result: PathResult = {
      mbps: (tp.bytes! / tp.seconds!) / 1e6, p50: lat.p50us!, p99: lat.p99us!, connPerSec: cr.perSecond!,
    };
    if (pids.length > 0) Object.assign(result, { cpuPer1k: cpu / (rate.achieved! / 1000), rssIdleMb: rssIdle, rssLoadMb: rssPeak, cpuMsPerMb: [perMb[0]!, perMb[1]!] });
    return result;
  } finally {
    clearInterval(sampler);
  }
}

export function post(socketPath: string, path: string, body: object): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method: 'POST', path, headers: { 'content-type': 'application/json' } }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

export function meshYaml(topo: Topology): string {
  const pod = (p: TopoPod) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: 'shop', labels: { app: p.name } },
    spec: { serviceAccountName: p.name, nodeName: p.node }, status: { podIP: p.ip } });
  const vm = { apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: 'b', namespace: 'shop', annotations: { 'meshnode.io/node': 'n2' } },
    spec: { address: topo.node('n2').linkAddress, serviceAccount: 'b', ports: { echo: MESH_ECHO, sink: MESH_SINK } } };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    pod(topo.pod('a')), HOST_MODE ? vm : pod(topo.pod('b')),
  ].map((d) => stringify(d)).join('---\n');
}

/** Host mode: node n2 is the VM; its agent runs as a throwaway uid, its app in the node's netns. */
async function startVmSide(res: Resources, dir: string, topo: Topology, caAddress: string): Promise<Daemon> {
  const n2 = topo.node('n2');
  const vmDir = join(dir, 'vm');
  await bootstrapVm({ name: 'b', namespace: 'shop', serviceAccount: 'b', address: n2.linkAddress, ports: {}, labels: {} },
    { out: vmDir, node: 'n2', caDir: join(dir, 'ca'), caAddress, tokens: join(dir, 'ca-tokens.yaml'), trustDomain: 'cluster.local' });
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'mesh.yaml'), 0o644);
  const app = startDaemon(res, 'bench app on the VM', n2.netns, [process.execPath, LOAD, 'serve', String(MESH_ECHO), String(MESH_SINK)], join(dir, 'app-vm.log'));
  await waitFor('the bench app on the VM', 10_000, () => (app.log().includes('listening') ? true : undefined));
  return startVmAgent(res, { netns: n2.netns, dir: vmDir, node: 'n2', config: join(dir, 'mesh.yaml'), caAddress, trustDomain: 'cluster.local', uid: throwawayUid() });
}

/**
 * The node flags on `meshnode`'s `#!/usr/bin/env -S node ...` line: an installed agent (systemd,
 * the image) runs with them, so the agents measured here do too.
 */
async function startMeshnode(res: Resources, dir: string, topo: Topology): Promise<Daemon[]> {
  const caAddress = caAddressOf(topo);
  writeFileSync(join(dir, 'mesh.yaml'), meshYaml(topo));
  await startCa(res, { netns: topo.node('n1').netns, dir, listen: caAddress, trustDomain: 'cluster.local' });
  const agents: Daemon[] = HOST_MODE ? [await startVmSide(res, dir, topo, caAddress)] : [];
  for (const podName of HOST_MODE ? ['a'] : ['a', 'b']) await applyInpodRules(topo.pod(podName).path, { ipv6: false });
  agents.push(...await startPodAgents(res, dir, topo, HOST_MODE ? ['a'] : ['a', 'b'], 'agents'));
  return agents;
}

const caAddressOf = (topo: Topology) => `${topo.node('n1').linkAddress}:15012`;

/** A `meshnode agent` for each pod's node (under `dir/<sub>/<node>`), the pod registered with it. */
async function startPodAgents(res: Resources, dir: string, topo: Topology, podNames: string[], sub: string, extraArgs: string[] = []): Promise<Daemon[]> {
  const agents: Daemon[] = [];
  for (const podName of podNames) {
    const pod = topo.pod(podName);
    const spec: AgentSpec = {
      netns: topo.node(pod.node).netns, caDir: dir, caAddress: caAddressOf(topo), dir: join(dir, sub, pod.node), node: pod.node,
      config: join(dir, 'mesh.yaml'), trustDomain: 'cluster.local', extraArgs,
    };
    agents.push(await startAgent(res, spec));
    const status = await post(agentSocketOf(spec), '/v1/pods', { uid: `bench-${podName}`, namespace: 'shop', name: podName, netns: pod.path, ips: [pod.ip] });
    if (status !== 200) throw new Error(`registering pod ${podName} answered ${status}`);
  }
  return agents;
}

const EXTRA_PODS = 100;

/**
 * What EXTRA_PODS more registered pods cost the agent on n1: each in a netns of its own, listed
 * in the mesh config on n1 and registered over the CNI API, so it gets its three listeners (on
 * every loop). RSS in MB per 100 pods, descriptors per pod.
 */
async function podsCost(res: Resources, dir: string, topo: Topology, agent: Daemon): Promise<{ mbPer100: number; fdsPerPod: number }> {
  const pods = Array.from({ length: EXTRA_PODS }, (_, i) => ({
    name: `extra-${i}`, netnsName: `mnbp${randomBytes(4).toString('hex')}`, ip: `10.250.${Math.floor(i / 250)}.${(i % 250) + 1}`,
  }));
  for (const p of pods) {
    await exec('ip', ['netns', 'add', p.netnsName]);
    res.add(`delete netns ${p.netnsName}`, () => exec('ip', ['netns', 'del', p.netnsName]).then(() => undefined));
  }
  const doc = (p: (typeof pods)[number]) => stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: 'shop', labels: { app: 'extra' } },
    spec: { serviceAccountName: 'extra', nodeName: 'n1' }, status: { podIP: p.ip } });
  writeFileSync(join(dir, 'mesh.yaml'), meshYaml(topo) + pods.map((p) => `---
${doc(p)}`).join(''));
  await waitFor('the agent on n1 to reload the mesh config', 30_000, () => (agent.log().includes('mesh config reloaded') ? true : undefined));
  const pid = agent.child.pid!;
  const fds = () => readdirSync(`/proc/${pid}/fd`).length;
  const [rss0, fds0] = [rssMb(pid), fds()];
  for (const p of pods) {
    const status = await post(join(dir, 'agents', 'n1', 'cni.sock'), '/v1/pods', { uid: `bench-${p.name}`, namespace: 'shop', name: p.name, netns: `/run/netns/${p.netnsName}`, ips: [p.ip] });
    if (status !== 200) throw new Error(`registering ${p.name} answered ${status}`);
  }
  await new Promise((r) => setTimeout(r, 2000));
  return { mbPer100: ((rssMb(pid) - rss0) * 100) / EXTRA_PODS, fdsPerPod: (fds() - fds0) / EXTRA_PODS };
}

/** Streams (and concurrent connection loops) of the scaling leg. */
const PARALLEL = 8;

interface ScalingResult { workers: number; mbps: number; connPerSec: number; cpu: number }

/**
 * The scaling leg: PARALLEL streams and PARALLEL connection loops through the mesh, with the
 * agents restarted with `--workers 1` and `--workers 2`; `cpu` is what the two agents used
 * together, in vCPUs, during the throughput part.
 */
async function scaling(res: Resources, dir: string, topo: Topology, agents: Daemon[]): Promise<ScalingResult[]> {
  const [a, b] = [topo.pod('a'), topo.pod('b')];
  for (const d of agents) await stopDaemon(d);
  const results: ScalingResult[] = [];
  for (const workers of [1, 2]) {
    const running = await startPodAgents(res, dir, topo, ['a', 'b'], `workers-${workers}`, ['--workers', String(workers)]);
    const pids = running.map((d) => d.child.pid!);
    await load(a, ['latency', b.ip, MESH_ECHO, 20]);
    const cpu0 = pids.map(cpuSeconds);
    const t0 = performance.now();
    const tp = await load(a, ['throughput', b.ip, MESH_SINK, SECONDS, PARALLEL]);
    const cpu = pids.reduce((sum, p, i) => sum + cpuSeconds(p) - cpu0[i]!, 0) / ((performance.now() - t0) / 1000);
    const cr = await load(a, ['connrate', b.ip, MESH_ECHO, SECONDS, PARALLEL]);
    results.push({ workers, mbps: tp.bytes! / tp.seconds! / 1e6, connPerSec: cr.perSecond!, cpu });
    for (const d of running) await stopDaemon(d);
  }
  return results;
}

const IDLE_CONNECTIONS = 1000;

/** RSS per agent (mean of the two) that IDLE_CONNECTIONS open, idle connections a → b add. */
async function idleConnectionCost(res: Resources, dir: string, a: TopoPod, b: TopoPod, pids: number[]): Promise<number> {
  const before = avg(pids.map(rssMb));
  const holder = startDaemon(res, 'idle connections', a.netns, [process.execPath, LOAD, 'hold', b.ip, String(MESH_ECHO), String(IDLE_CONNECTIONS)], join(dir, 'hold.log'));
  await waitFor('the idle connections', 120_000, () => {
    if (holder.exited) throw new Error(`the holder exited: ${holder.log().slice(-500)}`);
    return holder.log().includes('"held"') ? true : undefined;
  });
  const after = avg(pids.map(rssMb));
  const gone = new Promise((r) => holder.child.once('exit', r));
  holder.child.kill('SIGTERM');
  await gone;
  return after - before;
}

interface ChurnResult { fresh: number; after: number; quarters: number[]; seconds: number; failed: number }

/** New connections/s through the mesh before and after CHURN_CONNECTIONS short connections. */
async function churn(a: TopoPod, b: TopoPod): Promise<ChurnResult> {
  for (const pod of [a, b]) for (const setting of CHURN_SYSCTLS) await exec('ip', ['netns', 'exec', pod.netns, 'sysctl', '-qw', setting]);
  // Longer than the other legs: the two rates are compared with each other, to 10 %.
  const fresh = await load(a, ['connrate', b.ip, MESH_ECHO, RATE_SECONDS, 16]);
  const prior = await load(a, ['connections', b.ip, MESH_ECHO, CHURN_CONNECTIONS, 16]) as unknown as { quarters: number[]; seconds: number; failed: number };
  const after = await load(a, ['connrate', b.ip, MESH_ECHO, RATE_SECONDS, 16]);
  return { fresh: fresh.perSecond!, after: after.perSecond!, quarters: prior.quarters, seconds: prior.seconds, failed: prior.failed + after.failed! };
}

function results(direct: PathResult, st: PathResult, relayed: PathResult, mesh: PathResult, churned: ChurnResult): BenchResult[] {
  const addedMesh = mesh.p50 - direct.p50;
  const addedSt = st.p50 - direct.p50;
  const rows: BenchResult[] = [];
  for (const [name, r] of [['direct', direct], ['stunnel', st], ['node tls relay', relayed], [HOST_MODE ? 'meshnode (server side in host mode)' : 'meshnode', mesh]] as const) {
    rows.push({ name: `${name}: single-stream throughput`, value: r.mbps, unit: 'MB/s' });
    rows.push({ name: `${name}: 1 KB request latency p50`, value: r.p50, unit: 'µs' });
    rows.push({ name: `${name}: 1 KB request latency p99`, value: r.p99, unit: 'µs' });
    rows.push({ name: `${name}: new connections/s (16 concurrent)`, value: r.connPerSec, unit: 'conn/s' });
    if (r.cpuPer1k !== undefined) {
      rows.push({ name: `${name}: CPU per proxy per 1000 req/s`, value: r.cpuPer1k, unit: 'vCPU' });
      rows.push({ name: `${name}: CPU per MB, single stream, client / server proxy`, value: r.cpuMsPerMb![0], unit: 'ms', note: `server side ${r.cpuMsPerMb![1].toFixed(2)} ms` });
      rows.push({ name: `${name}: RSS per proxy idle`, value: r.rssIdleMb!, unit: 'MB' });
      rows.push({ name: `${name}: RSS per proxy under load (peak)`, value: r.rssLoadMb!, unit: 'MB' });
    }
  }
  rows.push(
    { name: 'ratio meshnode/stunnel: throughput', value: mesh.mbps / st.mbps, unit: '×', target: '≥ 1.0' },
    { name: 'ratio node tls relay/stunnel: throughput', value: relayed.mbps / st.mbps, unit: '×', note: 'the runtime without HTTP/2' },
    { name: 'ratio meshnode/stunnel: added p50 latency', value: addedMesh / addedSt, unit: '×', target: '≤ 1.0', note: `added ${addedMesh.toFixed(0)} µs vs ${addedSt.toFixed(0)} µs` },
    { name: 'ratio meshnode/stunnel: new connections/s', value: mesh.connPerSec / st.connPerSec, unit: '×', target: '≥ 10' },
    { name: `meshnode: new connections/s before the churn`, value: churned.fresh, unit: 'conn/s' },
    { name: `meshnode: new connections/s after ${CHURN_CONNECTIONS} connections`, value: churned.after, unit: 'conn/s',
      note: `the ${CHURN_CONNECTIONS} took ${churned.seconds.toFixed(0)} s, per quarter ${churned.quarters.map((q) => q.toFixed(0)).join(' / ')} conn/s; ${churned.failed} failed` },
    { name: 'ratio meshnode after churn/before', value: churned.after / churned.fresh, unit: '×', target: '≥ 0.9' },
    { name: 'ratio meshnode/stunnel: CPU per 1000 req/s', value: mesh.cpuPer1k! / st.cpuPer1k!, unit: '×', note: `meshnode target ≤ 0.06 vCPU per agent` },
    { name: 'ratio meshnode/stunnel: idle RSS', value: mesh.rssIdleMb! / st.rssIdleMb!, unit: '×', note: 'meshnode target ≤ 60 MB' },
  );
  return rows;
}

function scalingRows(scaled: ScalingResult[]): BenchResult[] {
  const rows = scaled.flatMap((r): BenchResult[] => [
    { name: `meshnode --workers ${r.workers}: throughput, ${PARALLEL} streams`, value: r.mbps, unit: 'MB/s', note: `agents used ${r.cpu.toFixed(2)} vCPU together` },
    { name: `meshnode --workers ${r.workers}: new connections/s (${PARALLEL} concurrent)`, value: r.connPerSec, unit: 'conn/s' },
  ]);
  const [one, two] = scaled;
  if (one && two) {
    rows.push(
      { name: 'ratio meshnode 2 workers/1: throughput', value: two.mbps / one.mbps, unit: '×' },
      { name: 'ratio meshnode 2 workers/1: new connections/s', value: two.connPerSec / one.connPerSec, unit: '×' },
    );
  }
  return rows;
}

export async function run(): Promise<BenchResult[]> {
  if (process.getuid?.() !== 0) return [{ name: 'dataplane', value: 0, unit: '-', note: 'skipped: needs root (network namespaces)' }];
  const res = new Resources();
  const dir = mkdtempSync(join(tmpdir(), 'meshnode-bench-dp-'));
  res.add('remove bench dir', async () => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });
  const topo = Topology.build({ nodes: { n1: ['a'], n2: ['b'] } });
  res.add('delete namespaces', async () => topo.destroy());
  const ca = new TestCa('bench-stunnel-ca');
  res.add('remove stunnel ca', async () => ca.dispose());
  try {
    const a = topo.pod('a');
    const b = topo.pod('b');
    for (const [echo, sink] of [[ECHO, SINK], [MESH_ECHO, MESH_SINK]]) {
      const app = startDaemon(res, `bench app ${echo}`, b.netns, [process.execPath, LOAD, 'serve', String(echo), String(sink)], join(dir, `app-${echo}.log`));
      await waitFor('the bench app', 10_000, () => (app.log().includes('listening') ? true : undefined));
    }
    const direct = await measure(a, b.ip, ECHO, SINK, []);
    const certs = writePeerCerts(dir, ca);
    const stunnels = await startStunnel(res, dir, certs, a, b);
    const st = await measure(a, '127.0.0.1', STUNNEL_PORTS.echo, STUNNEL_PORTS.sink, stunnels.map((d) => d.child.pid!));
    const relays = await startTlsRelay(res, dir, certs, a, b);
    const relayed = await measure(a, '127.0.0.1', RELAY_PORTS.echo, RELAY_PORTS.sink, relays.map((d) => d.child.pid!));
    for (const d of relays) await stopDaemon(d);
    const agents = await startMeshnode(res, dir, topo);
    const server = HOST_MODE ? topo.node('n2').linkAddress : b.ip;
    await load(a, ['latency', server, MESH_ECHO, 20]);
    const pids = agents.map((d) => d.child.pid!);
    const idleRss = avg(pids.map(rssMb));
    // The RSS costs come before the load legs: afterwards the agents' RSS is still coming down
    // from its peak, by more than 100 pods or 1,000 connections add. The extra pods stay
    // registered on n1 for the rest of the run, as on a node that serves them.
    const pods = HOST_MODE ? undefined : await podsCost(res, dir, topo, agents[0]!);
    const idleCost = await idleConnectionCost(res, dir, a, b, pids);
    const mesh = await measure(a, server, MESH_ECHO, MESH_SINK, pids, idleRss);
    const churned = await churn(a, b);
    const stunnelParallel = await load(a, ['throughput', '127.0.0.1', STUNNEL_PORTS.sink, SECONDS, PARALLEL]);
    const scaled = HOST_MODE ? [] : await scaling(res, dir, topo, agents);
    return [...results(direct, st, relayed, mesh, churned),
      { name: `meshnode: RSS per agent per ${IDLE_CONNECTIONS} open idle connections`, value: idleCost, unit: 'MB' },
      ...(pods ? [{ name: `meshnode: RSS per ${EXTRA_PODS} registered pods`, value: pods.mbPer100, unit: 'MB', note: `${pods.fdsPerPod.toFixed(1)} descriptors per pod` }] : []),
      { name: `stunnel: throughput, ${PARALLEL} streams`, value: stunnelParallel.bytes! / stunnelParallel.seconds! / 1e6, unit: 'MB/s' },
      ...scalingRows(scaled)];
  } finally {
    await res.releaseAll((what, err) => process.stderr.write(`bench cleanup: could not ${what}: ${err.message}\n`));
  }
}
