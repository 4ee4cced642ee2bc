import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentArgs, agentSocketOf, inNetns, startCa, type AgentSpec } from '../agent/demo/control-plane.js';
import { Resources, exec, startDaemon, waitFor, type Daemon } from '../agent/demo/system.js';
import { applyInpodRules } from '../agent/capture/apply.js';
import { Topology } from '../test/helpers/topology.js';
import { LOAD, MESH_ECHO, MESH_SINK, load, meshYaml, post } from './dataplane.js';

/**
 * `node build/bench/dataplane-profile.js OUTDIR [throughput] [latency] [connrate]` (root): the
 * meshnode leg of `npm run bench dataplane` on the same topology, with both agents (a = client
 * side on n1, b = server side on n2) profiled one leg at a time, in three separate passes so one
 * tool's overhead never skews another's figure:
 *   1. `perf record -g` on each agent during the leg (agents run with --perf-basic-prof, so JS
 *      frames have names), reported by dso and symbol into OUTDIR/<leg>-<a|b>.perf.txt;
 *   2. `strace -c -f` on each agent during a leg of known size, divided per MB / per request /
 *      per connection;
 *   3. allocations during the same known size: the V8 heap's (`allocated=` of --trace-gc-nvp,
 *      summed over the GCs in the window) and ArrayBuffer backing stores (uprobes on Node's
 *      array-buffer allocator, sizes summed) — socket and TLS reads land in the latter.
 * OUTDIR/summary.json and the printed table hold the per-unit figures and CPU seconds per agent.
 */
const AGENT_FLAGS = ['--perf-basic-prof', '--trace-gc-nvp'];
const NODE = '/usr/bin/node';
const PROBES: [string, string, string][] = [
  ['mnAbAlloc', '_ZN4node24NodeArrayBufferAllocator8AllocateEm', 'size=%si:u64'],
  ['mnAbAllocU', '_ZN4node24NodeArrayBufferAllocator21AllocateUninitializedEm', 'size=%si:u64'],
  ['mnAbRealloc', '_ZN2v88internal12BackingStore10ReallocateEPNS0_7IsolateEm', 'size=%dx:u64'],
];

interface Leg { perf: (string | number)[]; counted: (string | number)[]; units: number; unit: string }

function legs(host: string): Record<string, Leg> {
  return {
    throughput: { perf: ['throughput', host, MESH_SINK, 5], counted: ['bytes', host, MESH_SINK, 512], units: 512, unit: 'MB' },
    // The latency mode makes 50 warm-up round trips first.
    latency: { perf: ['latency', host, MESH_ECHO, 5000], counted: ['latency', host, MESH_ECHO, 2000], units: 2050, unit: 'request' },
    connrate: { perf: ['connrate', host, MESH_ECHO, 5, 16], counted: ['connections', host, MESH_ECHO, 2000, 16], units: 2000, unit: 'connection' },
  };
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Starts `cmd`, waits until it has attached (a short pause), and returns a stopper. */
async function attach(cmd: string, args: string[]): Promise<() => Promise<string>> {
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  await new Promise((r) => setTimeout(r, 700));
  return async () => {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await gone;
    return err;
  };
}

async function startProfiledAgent(res: Resources, spec: AgentSpec): Promise<Daemon> {
  mkdirSync(`${spec.dir}/state`, { recursive: true });
  const [node, ...rest] = agentArgs(spec);
  const agent = startDaemon(res, `agent on ${spec.node}`, spec.netns, [node!, ...AGENT_FLAGS, ...rest], `${spec.dir}/agent.log`);
  await waitFor(`the agent on ${spec.node}`, 30_000, async () => {
    if (agent.exited) throw new Error(`the agent on ${spec.node} exited: ${agent.log().slice(-500)}`);
    return inNetns(spec.netns, ['get', 'http://127.0.0.1:15021/healthz/ready']).then(() => true, () => undefined);
  });
  return agent;
}

/** Calls and total per syscall from an `strace -c` summary file. */
function straceCounts(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m) out[m[2]!] = Number(m[1]);
  }
  return out;
}

/** Bytes the V8 heap allocated over the GCs logged after `offset` in an agent's log. */
function heapAllocated(log: string, offset: number): { bytes: number; gcs: number; markCompacts: number } {
  let bytes = 0; let gcs = 0; let markCompacts = 0;
  for (const m of log.slice(offset).matchAll(/gc=(\w+) .*? allocated=(\d+)/g)) {
    bytes += Number(m[2]); gcs++;
    if (m[1] === 'mc' || m[1] === 'mmc') markCompacts++;
  }
  return { bytes, gcs, markCompacts };
}

async function main(outDir: string, wanted: string[]): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const res = new Resources();
  const dir = join(outDir, 'run');
  mkdirSync(dir, { recursive: true });
  const topo = Topology.build({ nodes: { n1: ['a'], n2: ['b'] } });
  res.add('delete namespaces', async () => topo.destroy());
  const probes: string[] = [];
  res.add('remove probes', async () => { for (const p of probes) await exec('perf', ['probe', '-q', '-d', `probe_node:${p}`]).catch(() => ''); });
  const summary: Record<string, unknown> = {};
  try {
    const a = topo.pod('a');
    const b = topo.pod('b');
    const app = startDaemon(res, 'bench app', b.netns, [process.execPath, LOAD, 'serve', String(MESH_ECHO), String(MESH_SINK)], join(dir, 'app.log'));
    await waitFor('the bench app', 10_000, () => (app.log().includes('listening') ? true : undefined));
    const n1 = topo.node('n1');
    const caAddress = `${n1.linkAddress}:15012`;
    writeFileSync(join(dir, 'mesh.yaml'), meshYaml(topo));
    await startCa(res, { netns: n1.netns, dir, listen: caAddress, trustDomain: 'cluster.local' });
    const agents: Record<string, Daemon> = {};
    for (const podName of ['a', 'b']) {
      const pod = topo.pod(podName);
      const spec: AgentSpec = { netns: topo.node(pod.node).netns, caDir: dir, caAddress, dir: join(dir, pod.node), node: pod.node, config: join(dir, 'mesh.yaml'), trustDomain: 'cluster.local' };
      agents[podName] = await startProfiledAgent(res, spec);
      await applyInpodRules(pod.path, { ipv6: false });
      const status = await post(agentSocketOf(spec), '/v1/pods', { uid: `bench-${podName}`, namespace: 'shop', name: podName, netns: pod.path, ips: [pod.ip] });
      if (status !== 200) throw new Error(`registering pod ${podName} answered ${status}`);
    }
    await load(a, ['latency', b.ip, MESH_ECHO, 20]);
    for (const [name, fn, arg] of PROBES) {
      await exec('perf', ['probe', '-q', '-x', NODE, '--no-demangle', '-a', `${name}=${fn} ${arg}`]).then(() => probes.push(name), () => '');
    }
    for (const [legName, leg] of Object.entries(legs(b.ip))) {
      if (wanted.length > 0 && !wanted.includes(legName)) continue;
      const row: Record<string, unknown> = { unit: leg.unit };
      for (const side of Object.keys(agents)) row[side] = {};
      const sides = Object.entries(agents);
      // 1. CPU profile.
      const cpu0 = sides.map(([, d]) => cpuSeconds(d.child.pid!));
      const perfStops = await Promise.all(sides.map(([side, d]) => attach('perf', ['record', '-g', '-F', '499', '-p', String(d.child.pid), '-o', join(outDir, `${legName}-${side}.perf.data`)])));
      const t0 = performance.now();
      const perfLeg = await load(a, leg.perf);
      const wall = (performance.now() - t0) / 1000;
      for (const stop of perfStops) await stop();
      sides.forEach(([side, d], i) => { (row[side] as Record<string, unknown>).cpuShare = (cpuSeconds(d.child.pid!) - cpu0[i]!) / wall; });
      row.perfLeg = perfLeg;
      for (const [side] of sides) {
        const data = join(outDir, `${legName}-${side}.perf.data`);
        const bySym = await exec('perf', ['report', '-i', data, '-g', 'none', '--no-children', '--sort', 'dso,sym', '--stdio', '--percent-limit', '0.7']);
        const byDso = await exec('perf', ['report', '-i', data, '-g', 'none', '--no-children', '--sort', 'dso', '--stdio', '--percent-limit', '0.5']);
        writeFileSync(join(outDir, `${legName}-${side}.perf.txt`), `${byDso}\n\n${bySym}`);
      }
      // 2. Syscalls over a leg of known size.
      const straceStops = await Promise.all(sides.map(([side, d]) => attach('strace', ['-c', '-f', '-p', String(d.child.pid), '-o', join(outDir, `${legName}-${side}.strace.txt`)])));
      await load(a, leg.counted);
      for (const stop of straceStops) await stop();
      for (const [side] of sides) {
        const counts = straceCounts(join(outDir, `${legName}-${side}.strace.txt`));
        const per: Record<string, number> = {};
        for (const [call, n] of Object.entries(counts)) if (n / leg.units >= 0.05) per[call] = Number((n / leg.units).toFixed(2));
        (row[side] as Record<string, unknown>).syscallsPerUnit = per;
      }
      // 3. Allocations over the same size.
      const offsets = sides.map(([, d]) => d.log().length);
      const abFile = (side: string) => join(outDir, `${legName}-${side}.alloc.data`);
      const probeEvents = probes.flatMap((p) => ['-e', `probe_node:${p}`]);
      const allocStops = probes.length === 0 ? [] : await Promise.all(sides.map(([side, d]) => attach('perf', ['record', ...probeEvents, '-p', String(d.child.pid), '-o', abFile(side)])));
      await load(a, leg.counted);
      for (const stop of allocStops) await stop();
      for (const [i, [side, d]] of sides.entries()) {
        const heap = heapAllocated(d.log(), offsets[i]!);
        const r = row[side] as Record<string, unknown>;
        r.heapBytesPerUnit = Math.round(heap.bytes / leg.units);
        r.gcsPerUnit = Number((heap.gcs / leg.units).toFixed(3));
        r.markCompacts = heap.markCompacts;
        if (probes.length > 0) {
          const script = await exec('perf', ['script', '-i', abFile(side), '-F', 'event,trace']);
          let bytes = 0; let n = 0;
          for (const m of script.matchAll(/size=(\d+)/g)) { bytes += Number(m[1]); n++; }
          r.arrayBufferBytesPerUnit = Math.round(bytes / leg.units);
          r.arrayBuffersPerUnit = Number((n / leg.units).toFixed(2));
        }
      }
      summary[legName] = row;
      process.stdout.write(`${legName} (per ${leg.unit}):\n${JSON.stringify(row, null, 1)}\n`);
    }
    writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2));
  } finally {
    await res.releaseAll((what, err) => process.stderr.write(`profile cleanup: could not ${what}: ${err.message}\n`));
  }
}

const [outDir, ...wanted] = process.argv.slice(2);
if (!outDir || process.getuid?.() !== 0) {
  process.stderr.write('usage (root): node build/bench/dataplane-profile.js OUTDIR [throughput] [latency] [connrate]\n');
  process.exitCode = 2;
} else {
  main(outDir, wanted).catch((err: Error) => { process.stderr.write(`${err.stack ?? err.message}\n`); process.exitCode = 1; });
}
