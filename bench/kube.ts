import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { kubeEvents, kubeTranslateSeconds } from '../metrics/kube.js';
import { setLogSink } from '../agent/telemetry/log.js';
import { kubePeersMissing, startKubeCluster } from '../test/helpers/kube-cluster.js';
import { ambientNamespace, startKubeSource } from '../test/helpers/kube-source.js';
import type { BenchResult } from './result.js';

const PODS = 1_000;
const podIp = (i: number) => `10.90.${i >> 8}.${i & 255}`;

/** Total seconds, turns, and the smallest bucket bound holding every turn. */
async function translateTurns(): Promise<{ sum: number; count: number; buckets: Map<number, number> }> {
  const { values } = await kubeTranslateSeconds.get();
  const buckets = new Map<number, number>();
  let sum = 0, count = 0;
  for (const v of values) {
    if (v.metricName?.endsWith('_sum')) sum = v.value;
    else if (v.metricName?.endsWith('_count')) count = v.value;
    else if (typeof v.labels.le === 'number') buckets.set(v.labels.le, v.value);
  }
  return { sum, count, buckets };
}

async function podEvents(): Promise<number> {
  const { values } = await kubeEvents.get();
  return values.filter((v) => v.labels.resource === 'pods' && v.labels.type !== 'BOOKMARK').reduce((n, v) => n + v.value, 0);
}

/**
 * 1,000 pods created through the real API server (and their IPs reported through the status
 * subresource) while the Kubernetes source watches: the time until the store serves every one,
 * and what the source cost the event loop per pod event (watch parsing, translation, store
 * apply; the load generator runs in a worker thread).
 */
export async function run(): Promise<BenchResult[]> {
  const missing = kubePeersMissing();
  if (missing) throw new Error(missing);
  setLogSink(() => {});
  const kube = await startKubeCluster();
  try {
    await kube.apply(ambientNamespace('bench', 'bench'));
    const { source, store } = await startKubeSource(kube, { timing: {} });
    try {
      const ips = Array.from({ length: PODS }, (_, i) => podIp(i));
      // Pods without an IP are not workloads, so the count reaches PODS when the last IP is served.
      const allServed = new Promise<void>((resolve) => store.subscribe(() => { if (store.counts.workloads >= PODS) resolve(); }));
      const eventsBefore = await podEvents();
      const turnsBefore = await translateTurns();
      const elu = performance.eventLoopUtilization();
      const started = performance.now();
      const worker = new Worker(new URL('./kube-load.js', import.meta.url), {
        workerData: { kubeconfig: kube.kubeconfig, namespace: 'bench', ips, concurrency: 8 },
      });
      const created = new Promise<number>((resolve, reject) => {
        worker.once('message', () => resolve(performance.now()));
        worker.once('error', reject);
      });
      const createdAt = await created;
      await allServed;
      const servedAt = performance.now();
      const busy = performance.eventLoopUtilization(elu);
      const events = (await podEvents()) - eventsBefore;
      await worker.terminate();
      const served = ips.filter((ip) => store.workloadByIp(ip)).length;
      const turns = await translateTurns();
      const turnCount = turns.count - turnsBefore.count;
      const longest = [...turns.buckets].sort((a, b) => a[0] - b[0])
        .find(([le, n]) => n - (turnsBefore.buckets.get(le) ?? 0) >= turnCount)?.[0];
      return [
        { name: `kube: ${PODS} pod creations (create + status) → all served`, value: servedAt - started, unit: 'ms',
          note: `${served} served; the API writes took ${(createdAt - started).toFixed(0)} ms (8 in flight), the last served ${(servedAt - createdAt).toFixed(0)} ms after the last write` },
        { name: 'kube: translation time per pod event', value: ((turns.sum - turnsBefore.sum) / events) * 1e6, unit: 'µs',
          note: `${events} pod watch events in ${turnCount} turns; read + translate + apply, up to ${PODS} pods in one namespace` },
        { name: 'kube: event-loop time per pod event, all of it', value: (busy.active / events) * 1000, unit: 'µs',
          note: 'adds the watch streams\' TLS, HTTP and JSON decoding (the load generator runs in a worker)' },
        { name: 'kube: longest translation turn at most', value: (longest ?? Infinity) * 1000, unit: 'ms', note: 'histogram bucket bound' },
      ];
    } finally {
      source.close();
    }
  } finally {
    await kube.close();
  }
}
