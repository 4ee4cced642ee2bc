import test from 'ava';
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../agent/state/store.js';
import type { StateChange } from '../../agent/state/types.js';
import { YamlSource } from '../../agent/sources/yaml/source.js';
import { createLogger, setLogSink } from '../../agent/telemetry/log.js';
import { registry } from '../../metrics/registry.js';
import { eventually } from '../helpers/eventually.js';

// Catalogue F (config faults) for the local YAML source: every bad file is rejected as a whole,
// the last good snapshot keeps serving, and the reload metrics and log say so.
const lines: string[] = [];
setLogSink((line) => lines.push(line));
const settings = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

const NAMESPACE = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio.io/dataplane-mode: ambient';
const POD = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-0\n  namespace: shop\nspec:\n  nodeName: n1\nstatus:\n  podIP: 10.1.0.1';
const policy = (name: string, extraSpec = '') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: shop\nspec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n        namespaces: [evil]\n${extraSpec}`;
const mesh = (...extra: string[]) => [NAMESPACE, POD, ...extra].join('\n---\n') + '\n';

async function failures(): Promise<number> {
  const m = await registry.getSingleMetric('meshnode_config_reloads_total')?.get();
  return m?.values.find((v) => v.labels.result === 'failure')?.value ?? 0;
}

async function lastReloadOk(): Promise<number> {
  return (await registry.getSingleMetric('meshnode_config_last_reload_successful')?.get())?.values[0]?.value ?? -1;
}

function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  return eventually(async () => { if (!(await cond())) throw new Error(`timed out waiting for ${what}`); });
}

async function watched(t: { teardown(fn: () => unknown): void }, path: string, watch = true) {
  const store = new StateStore(settings);
  const applied: StateChange[] = [];
  store.subscribe((c) => applied.push(c));
  const source = new YamlSource({ path, settings, store, log: createLogger('test'), debounceMs: 20 });
  t.teardown(() => source.close());
  const config = { get current() { return store.snapshot(); }, initial: async () => { await source.start(); applied.length = 0; return store.snapshot(); }, reload: () => source.reload(), watch: () => source.watch() };
  if (!watch) return { config, applied };
  await config.initial();
  config.watch();
  return { config, applied };
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'i-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test.serial('a security object with an unknown field is rejected as a whole; the previous policies keep applying', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, mesh(policy('deny-evil')));
  const { config, applied } = await watched(t, path);
  t.deepEqual([...config.current.authorizations.keys()], ['shop/deny-evil']);
  const before = await failures();
  lines.length = 0;

  // A field this agent does not know could narrow a DENY; ignoring it would fail open.
  await writeFile(join(dir, 'next'), mesh(policy('deny-evil', '  provider2: {name: x}\n'), policy('other')));
  await rename(join(dir, 'next'), path);
  await until(async () => await failures() === before + 1, 'the rejection');
  t.deepEqual([...config.current.authorizations.keys()], ['shop/deny-evil'], 'the last good policies still apply');
  t.is(applied.length, 0);
  t.is(await lastReloadOk(), 0);
  const rejected = lines.find((l) => l.includes('keeping the last good config'));
  t.truthy(rejected);
  t.regex(rejected!, /provider2/, 'the log names the unknown field');
});

test.serial('a deleted config file keeps the last good config, and the file coming back is applied', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, mesh(policy('deny-evil')));
  const { config, applied } = await watched(t, path);
  const before = await failures();

  await unlink(path);
  await until(async () => await failures() === before + 1, 'the rejection of the missing file');
  t.is(config.current.workloads.size, 1);
  t.is(config.current.authorizations.size, 1, 'a missing file is not an empty mesh');
  t.is(applied.length, 0);

  await writeFile(join(dir, 'next'), mesh());
  await rename(join(dir, 'next'), path);
  await until(() => applied.length === 1, 'the restored file');
  t.is(config.current.authorizations.size, 0);
  t.is(await lastReloadOk(), 1);
});

test.serial('a ConfigMap-style ..data symlink swap is picked up', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, '..v1'));
  await writeFile(join(dir, '..v1', 'mesh.yaml'), mesh());
  await symlink('..v1', join(dir, '..data'));
  await symlink('..data/mesh.yaml', join(dir, 'mesh.yaml'));
  const { config, applied } = await watched(t, join(dir, 'mesh.yaml'));
  t.is(config.current.authorizations.size, 0);

  // What the kubelet does: write a new timestamped dir, point ..data_tmp at it, rename over ..data.
  await mkdir(join(dir, '..v2'));
  await writeFile(join(dir, '..v2', 'mesh.yaml'), mesh(policy('deny-evil')));
  await symlink('..v2', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await until(() => applied.length >= 1, 'the swapped config');
  t.deepEqual([...config.current.authorizations.keys()], ['shop/deny-evil']);
});

test.serial('a file truncated to invalid YAML mid-write is rejected, and the completed write is applied', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'mesh.yaml');
  const full = mesh(policy('deny-evil'));
  await writeFile(path, mesh());
  const { config, applied } = await watched(t, path);
  const before = await failures();

  await writeFile(path, full.slice(0, full.indexOf('namespaces: [evil]') + 'namespaces: [ev'.length));
  await until(async () => await failures() > before, 'the rejection of the truncated file');
  t.is(config.current.authorizations.size, 0);
  await writeFile(path, full);
  await until(() => applied.length >= 1 && config.current.authorizations.size === 1, 'the completed file');
  t.is(await lastReloadOk(), 1);
});

// A writer that truncates then writes (`>` in a shell, many editors) exposes an empty file: that
// is not "the mesh is now empty", which would drop every policy until the next event.
const emptyTexts: [string, string][] = [['an empty file', ''], ['a file of only comments', '# being rewritten\n---\n# more\n']];
for (const [what, text] of emptyTexts) {
  test.serial(`${what} replacing a non-empty config is rejected as empty, and the completed write is applied`, async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'mesh.yaml');
    await writeFile(path, mesh(policy('deny-evil')));
    const { config, applied } = await watched(t, path);
    const before = await failures();
    lines.length = 0;

    await writeFile(path, text);
    await until(async () => await failures() > before, 'the rejection of the empty file');
    t.is(config.current.workloads.size, 1, 'the last good pods stay');
    t.deepEqual([...config.current.authorizations.keys()], ['shop/deny-evil'], 'the last good policies stay');
    t.is(applied.length, 0);
    t.is(await lastReloadOk(), 0);
    const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'mesh config is empty; keeping the last good config');
    t.like(warning, { level: 'warn', path });

    await writeFile(path, mesh(policy('deny-evil'), policy('other')));
    await until(() => applied.length === 1, 'the completed file');
    t.deepEqual([...config.current.authorizations.keys()].sort(), ['shop/deny-evil', 'shop/other']);
    t.is(await lastReloadOk(), 1);
  });
}

test.serial('an empty config is accepted at start-up, and reloading it empty again is no failure', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, '');
  const { config } = await watched(t, path);
  t.is(config.current.workloads.size, 0);
  const before = await failures();
  t.true(await config.reload());
  t.is(await failures(), before);
});
