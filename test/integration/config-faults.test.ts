import test from 'ava';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setLogSink } from '../../agent/telemetry/log.js';
import { registry } from '../../metrics/registry.js';
import { until, watchedYaml } from '../helpers/yaml-source.js';

// Catalogue F (config faults) for the local YAML source: every bad file is rejected as a whole,
// the last good snapshot keeps serving, and the reload metrics and log say so.
const lines: string[] = [];
setLogSink((line) => lines.push(line));

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


async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'i-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A watched config holding the policy deny-evil, with the failure count taken and the log cleared. */
async function watchedDenyEvil(t: { teardown(fn: () => unknown): void }, watch = true) {
  const dir = await tempDir(t);
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, mesh(policy('deny-evil')));
  const source = await watchedYaml(t, path, watch);
  if (!watch) await source.config.initial();
  lines.length = 0;
  return { dir, path, ...source, before: await failures() };
}

test.serial('a security object with an unknown field is rejected as a whole; the previous policies keep applying', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, mesh(policy('deny-evil')));
  const { config, applied } = await watchedYaml(t, path);
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
  const { config, applied } = await watchedYaml(t, path);
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
  const { config, applied } = await watchedYaml(t, join(dir, 'mesh.yaml'));
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
  const { config, applied } = await watchedYaml(t, path);
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
    const { path, config, applied, before } = await watchedDenyEvil(t);

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
  const { config } = await watchedYaml(t, path);
  t.is(config.current.workloads.size, 0);
  const before = await failures();
  t.true(await config.reload());
  t.is(await failures(), before);
});

/** Fails the test instead of hanging the run when a reload never settles (what a FIFO did). */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not settle in ${ms} ms`)), ms).unref())]);
}

// A deny-all whose apiVersion or kind is mistyped must not be skipped: that would fail open.
const mistyped: [string, string][] = [['security.istio.io/v1beta', 'AuthorizationPolicy'], ['security.istio.io/v1', 'AuthorisationPolicy']];
for (const [apiVersion, kind] of mistyped) {
  test.serial(`a reload with a deny-all written as ${apiVersion} ${kind} is rejected; the last good policies keep applying`, async (t) => {
    const { dir, path, config, applied, before } = await watchedDenyEvil(t);

    const denyAll = `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: deny-all, namespace: istio-system}\nspec: {action: DENY, rules: [{}]}`;
    await writeFile(join(dir, 'next'), mesh(denyAll));
    await rename(join(dir, 'next'), path);
    await until(async () => await failures() === before + 1, 'the rejection');
    t.deepEqual([...config.current.authorizations.keys()], ['shop/deny-evil']);
    t.is(applied.length, 0);
    t.is(await lastReloadOk(), 0);
    t.regex(lines.find((l) => l.includes('keeping the last good config')) ?? '', /deny-all: error: (apiVersion|kind): /);
  });
}

test.serial('a config replaced by a FIFO is rejected at once, and reloads go on (the next good file is applied)', async (t) => {
  // Reloaded by hand only, so each reload is the one asserted on.
  const { path, config, applied } = await watchedDenyEvil(t, false);

  await unlink(path);
  execFileSync('mkfifo', [path]);
  // Should a read block on the FIFO after all, a writer's open releases it, so the run can end.
  t.teardown(() => open(path, constants.O_WRONLY | constants.O_NONBLOCK).then((h) => h.close(), () => undefined));
  t.false(await within(config.reload(), 5_000, 'the reload of a FIFO'));
  t.is(await lastReloadOk(), 0);
  t.regex(lines.find((l) => l.includes('keeping the last good config')) ?? '', /is a FIFO \(named pipe\), not a regular file/);
  t.deepEqual([...config.current.authorizations.keys()], ['shop/deny-evil']);

  await unlink(path);
  await writeFile(path, mesh(policy('deny-evil'), policy('other')));
  t.true(await within(config.reload(), 5_000, 'the reload after the FIFO'));
  t.is(applied.length, 1);
  t.is(await lastReloadOk(), 1);
});

test.serial('a config symlinked to /dev/zero is rejected as a device without being read', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'mesh.yaml');
  await writeFile(path, mesh());
  const { config } = await watchedYaml(t, path, false);
  await config.initial();
  lines.length = 0;
  await unlink(path);
  await symlink('/dev/zero', path);
  const rssBefore = process.memoryUsage().rss;
  t.false(await within(config.reload(), 5_000, 'the reload of /dev/zero'));
  t.true(process.memoryUsage().rss - rssBefore < 32 * 1024 * 1024, 'nothing of the device was read');
  t.regex(lines.find((l) => l.includes('keeping the last good config')) ?? '', /is a character device, not a regular file/);
});
