import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseFile } from '../agent/config/documents.js';
import { Problems } from '../agent/config/problems.js';
import { readObjects } from '../agent/model/objects/read-objects.js';
import type { ParsedPod } from '../agent/model/objects/parsed.js';
import { MeshTranslator, type TranslatorInput } from '../agent/model/translate/translator.js';
import { YamlSource } from '../agent/sources/yaml/source.js';
import { StateStore } from '../agent/state/store.js';
import { createLogger, setLogSink } from '../agent/telemetry/log.js';
import { LARGE_MESH, largeMeshYaml } from './large-mesh.js';
import type { BenchResult } from './result.js';

const SETTINGS = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };
const ROUNDS = 200;

/** A loopback echo pair that keeps one round trip in flight: stands in for proxied traffic. */
async function traffic(): Promise<{ stop(): Promise<{ trips: number; maxMs: number }> }> {
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', r));
  let trips = 0;
  let maxMs = 0;
  let sent = performance.now();
  let running = true;
  client.on('data', () => {
    const now = performance.now();
    maxMs = Math.max(maxMs, now - sent);
    trips++;
    // One round trip per millisecond at most: a steady flow, not a CPU hog competing with the reload.
    if (running) setTimeout(() => { sent = performance.now(); client.write('x'); }, 1);
  });
  client.write('x');
  return {
    async stop() {
      running = false;
      client.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      return { trips, maxMs };
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Event-loop time of the store applying one pod add, update and delete, as a source delivers them. */
function perPodApply(store: StateStore, translator: MeshTranslator, inputs: readonly TranslatorInput[]): BenchResult[] {
  const template = inputs.find((o): o is ParsedPod => o.kind === 'Pod')!;
  const times = { translateAdd: [] as number[], applyAdd: [] as number[], applyUpdate: [] as number[], applyDelete: [] as number[], translateUpdate: [] as number[] };
  for (let i = 0; i < ROUNDS; i++) {
    const name = `bench-extra-${i}`;
    const ip = `10.250.${i >> 8}.${i & 255}`;
    const pod: ParsedPod = { ...template, name, addresses: [ip], location: { ...template.location, name } };
    let t = performance.now();
    const added = translator.update([pod], []);
    added.commit();
    times.translateAdd.push(performance.now() - t);
    t = performance.now();
    store.apply(added.delta);
    times.applyAdd.push(performance.now() - t);

    const relabelled: ParsedPod = { ...pod, labels: { ...pod.labels, version: `v${i}` } };
    t = performance.now();
    const updated = translator.update([relabelled], []);
    updated.commit();
    times.translateUpdate.push(performance.now() - t);
    t = performance.now();
    store.apply(updated.delta);
    times.applyUpdate.push(performance.now() - t);

    const removed = translator.update([], [`Pod/${pod.namespace}/${name}`]);
    removed.commit();
    t = performance.now();
    store.apply(removed.delta);
    times.applyDelete.push(performance.now() - t);
  }
  const line = (name: string, v: number[]): BenchResult =>
    ({ name, value: percentile(v, 50), unit: 'ms', target: '≤ 1 ms', note: `p99 ${percentile(v, 99).toFixed(3)} ms, max ${Math.max(...v).toFixed(3)} ms over ${ROUNDS}` });
  return [
    line('state: apply one pod add (store)', times.applyAdd),
    line('state: apply one pod update (store)', times.applyUpdate),
    line('state: apply one pod delete (store)', times.applyDelete),
    line('state: translate one pod add (incremental)', times.translateAdd),
    line('state: translate one pod update (incremental)', times.translateUpdate),
  ];
}

/** Reloads the config at `path` after `write`, with traffic flowing, and reports the longest stall. */
async function reloadUnderTraffic(source: YamlSource, write: () => void, what: string): Promise<BenchResult[]> {
  const flow = await traffic();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  write();
  const t = performance.now();
  const accepted = await source.reload();
  const reloadMs = performance.now() - t;
  delay.disable();
  const { trips, maxMs } = await flow.stop();
  if (!accepted) throw new Error(`the ${what} reload was rejected`);
  return [
    { name: `state: longest event-loop stall, ${what}`, value: delay.max / 1e6, unit: 'ms', target: '≤ 50 ms', note: `reload took ${reloadMs.toFixed(0)} ms in the worker; ${trips} round trips, slowest ${maxMs.toFixed(1)} ms` },
  ];
}

export async function run(): Promise<BenchResult[]> {
  setLogSink(() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'mn-bench-state-'));
  try {
    const path = join(dir, 'mesh.yaml');
    writeFileSync(path, largeMeshYaml(0));
    const store = new StateStore(SETTINGS);
    const source = new YamlSource({ path, settings: SETTINGS, store, log: createLogger('bench') });
    const heapBefore = process.memoryUsage().heapUsed;
    let t = performance.now();
    await source.start();
    const loadMs = performance.now() - t;
    const memory = process.memoryUsage();
    const results: BenchResult[] = [
      { name: 'state: initial load (read, parse, translate, apply)', value: loadMs, unit: 'ms', note: LARGE_MESH.description },
      { name: 'state: heap held by the loaded state', value: (memory.heapUsed - heapBefore) / 2 ** 20, unit: 'MiB' },
      { name: 'state: process heap / RSS with the mesh loaded', value: memory.heapUsed / 2 ** 20, unit: 'MiB', note: `RSS ${(memory.rss / 2 ** 20).toFixed(0)} MiB (worker thread included)` },
    ];
    results.push(...await reloadUnderTraffic(source, () => writeFileSync(path, largeMeshYaml(1)), 'full reload, one policy changed'));
    results.push(...await reloadUnderTraffic(source, () => writeFileSync(path, largeMeshYaml(1) + '---\n'), 'full reload, nothing changed'));

    // The same mesh in a second, main-thread translator: the per-resource path an API-watching source takes.
    const problems = new Problems();
    t = performance.now();
    const { objects, security } = readObjects(parseFile(path, largeMeshYaml(1), problems), problems);
    const inputs = [...objects, ...security];
    const translator = new MeshTranslator(SETTINGS);
    const initial = translator.replaceAll(inputs);
    initial.commit();
    results.push({ name: 'state: whole translation on one thread (for comparison)', value: performance.now() - t, unit: 'ms', note: 'what the worker spends on a first load' });
    results.push(...perPodApply(store, translator, inputs));
    source.close();
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
