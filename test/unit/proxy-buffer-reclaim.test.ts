import test from 'ava';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { noteRelayed } from '../../agent/proxy/buffer-reclaim.js';

const MB = 1024 * 1024;

/** Minor GCs that started inside each window, once the observer has been handed the entries. */
async function minorGcsDuring(...windows: (() => void)[]): Promise<number[]> {
  const starts: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) starts.push(e.startTime);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const spans = windows.map((run) => { const t0 = performance.now(); run(); return [t0, performance.now()] as const; });
  await new Promise((r) => setTimeout(r, 100));
  observer.disconnect();
  return spans.map(([t0, t1]) => starts.filter((s) => s >= t0 && s <= t1).length);
}

test('a scavenge runs inside the call that takes the relayed bytes past 8 MB, not before', async (t) => {
  const [below, crossing, again] = await minorGcsDuring(
    () => noteRelayed(8 * MB - 1),
    () => noteRelayed(1),
    () => noteRelayed(4 * MB),
  );
  t.is(below, 0, 'no scavenge below 8 MB');
  t.true(crossing! >= 1, 'the call crossing 8 MB scavenged');
  t.is(again, 0, 'the count starts again after a scavenge');
});

test('the collector stays off every global object, including those of workers started later', async (t) => {
  noteRelayed(8 * MB);
  t.is(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  const worker = new Worker('require("node:worker_threads").parentPort.postMessage(typeof globalThis.gc)', { eval: true });
  t.is(await new Promise((resolve) => worker.once('message', resolve)), 'undefined');
  await worker.terminate();
});
