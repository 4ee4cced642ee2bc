import test from 'ava';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigLoadError, KEEP_WORKER_RESOURCES } from '../../agent/sources/yaml/source.js';
import { setLogSink } from '../../agent/telemetry/log.js';
import { registry } from '../../metrics/registry.js';
import { until, watchedYaml } from '../helpers/yaml-source.js';

const lines: string[] = [];
setLogSink((line) => lines.push(line));

const mesh = (pods: string[]) => [
  'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio.io/dataplane-mode: ambient',
  ...pods.map((name, i) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: shop\nspec:\n  nodeName: n1\nstatus:\n  podIP: 10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`),
].join('\n---\n') + '\n';

async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}


async function setup(t: { teardown(fn: () => unknown): void }, text: string) {
  const dir = await mkdtemp(join(tmpdir(), 'd1-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, text);
  return { dir, path, ...(await watchedYaml(t, path, false)) };
}

test.serial('an invalid config at start-up fails with every problem listed', async (t) => {
  const { config } = await setup(t, 'apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: shop\nspec:\n  nodeName: [1]\n');
  const err = await t.throwsAsync(config.initial(), { instanceOf: ConfigLoadError });
  t.regex(err!.message, /mesh\.yaml:\d+/);
  t.true(err!.problems.length >= 1);
});

test.serial('a changed file is reloaded, an invalid one is rejected and the last good config keeps serving', async (t) => {
  const { path, dir, config, applied } = await setup(t, mesh(['a']));
  t.is((await config.initial()).workloads.size, 1);
  config.watch();
  const failuresBefore = await metric('meshnode_config_reloads_total', { result: 'failure' });

  // An atomic replace (write + rename), as editors and ConfigMaps do.
  await writeFile(join(dir, 'next.tmp'), mesh(['a', 'b']));
  await rename(join(dir, 'next.tmp'), path);
  await until(() => applied.length === 1, 'the new config');
  t.is(config.current.workloads.size, 2);
  t.is(await metric('meshnode_config_last_reload_successful'), 1);

  await writeFile(path, 'apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: shop}\nspec: {nodeName: [}\n');
  await until(async () => await metric('meshnode_config_reloads_total', { result: 'failure' }) === failuresBefore + 1, 'the rejection');
  t.is(config.current.workloads.size, 2, 'the last good snapshot is still current');
  t.is(await metric('meshnode_config_last_reload_successful'), 0);
  t.true(lines.some((l) => l.includes('keeping the last good config')));
  t.is(applied.length, 1);
});

test.serial('overlapping reloads coalesce into at most one more load', async (t) => {
  const { config, applied } = await setup(t, mesh(['a']));
  await config.initial();
  const loads = () => lines.filter((l) => l.includes('"mesh config reloaded"')).length;
  const before = loads();
  const results = await Promise.all([config.reload(), config.reload(), config.reload()]);
  t.deepEqual(results, [true, true, true]);
  await until(() => loads() === before + 2, 'the coalesced follow-up load');
  t.is(await config.reload(), true);
  t.is(loads(), before + 3, 'three calls while one was running made exactly one more load');
  t.is(applied.length, 0, 'reloading an unchanged config changes nothing in the state');
});

test.serial('a warning repeated for every object is logged once per reload, with its count and the first places', async (t) => {
  const deployments = Array.from({ length: 1_000 }, (_, i) => `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d${i}, namespace: shop}\n`);
  const { config } = await setup(t, [mesh(['a']), ...deployments].join('---\n'));
  lines.length = 0;
  await config.initial();
  t.true(await config.reload());
  const warnings = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'mesh config warning');
  t.is(warnings.length, 2, 'one line at start-up, one at the reload');
  for (const w of warnings) {
    t.is(w.count, 1_000);
    t.regex(String(w.problem), /Deployment shop\/d0: warning: apps\/v1 Deployment is not a kind meshnode reads; skipped \(and 999 more: .*\(document 3\), .*\(document 4\), .*\(document 5\), \.\.\.\)$/);
  }
});

test.serial('a small config\'s worker ends after each load; a big one\'s stays and reloads ship only the change', async (t) => {
  const small = await setup(t, mesh(['a', 'b']));
  await small.config.initial();
  t.false(small.config.workerRunning, 'the worker of a 2-pod config is ended after the load');
  // The next load runs in a fresh worker, without the old baseline: its answer is applied whole,
  // and the store still reports only what differs.
  await writeFile(small.path, mesh(['a', 'c']));
  t.true(await small.config.reload());
  t.deepEqual(small.applied.map((c) => [c.workloads.added.length, c.workloads.changed.length, c.workloads.removed.length]), [[1, 0, 1]], "c added, b removed, a untouched");
  t.false(small.config.workerRunning);
  // A fresh worker knows a config is being served, so an empty file is still refused.
  await writeFile(small.path, '');
  t.false(await small.config.reload());
  t.is(small.config.current.workloads.size, 2);

  const pods = Array.from({ length: KEEP_WORKER_RESOURCES }, (_, i) => `p${i}`);
  const big = await setup(t, mesh(pods));
  await big.config.initial();
  t.true(big.config.workerRunning, `the worker of a ${pods.length}-pod config stays`);
  await writeFile(big.path, mesh([...pods.slice(1), 'q']));
  t.true(await big.config.reload());
  t.true(big.config.workerRunning);
  t.is(big.applied.length, 1);
});
