import test from 'ava';
import { mkdtemp, mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_LIMITS } from '../../agent/config/limits.js';
import { formatProblem } from '../../agent/config/problems.js';
import { loadMeshConfig } from '../../agent/model/load.js';
import { StateStore } from '../../agent/state/store.js';
import { examplesDir } from '../helpers/paths.js';
import { docs, pod, SETTINGS } from './model-harness.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-model-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('examples/mesh loads with no problems', async (t) => {
  const result = await loadMeshConfig(join(examplesDir, 'mesh'), SETTINGS);
  t.deepEqual(result.problems.map(formatProblem), []);
  t.truthy(result.snapshot);
  t.deepEqual(result.counts, { workloads: 8, services: 7, policies: 7 });
  const index = StateStore.fromSnapshot(result.snapshot!);
  t.deepEqual(index.workloadsOnNode('node-a').map((w) => w.name).sort(), ['frontend-7d4b9c-x2k8p', 'inventory-sync-6f7d8-lm4np', 'nightly-report-29315040-abcde']);
  t.is(index.podEnrollment('shop', 'nightly-report-29315040-abcde').enrolled, false);
  t.is(index.podEnrollment('legacy', 'inventory-sync-6f7d8-lm4np').enrolled, true);
  t.deepEqual([...index.workloadByName('payments', 'ledger-db-1')!.services.get('payments/ledger-db.payments.internal')!], [[5432, 5432]]);
});

test('a directory is read file by file in name order; other files are ignored', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, '20-b.yaml'), pod('b', { ip: '10.0.0.2' }));
  await writeFile(join(dir, '10-a.yml'), docs(pod('a', { ip: '10.0.0.1' }), pod('c', { ip: '10.0.0.3' })));
  await writeFile(join(dir, 'README.md'), '# not config: [');
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'x.yaml'), pod('x', { ip: '10.0.0.9' }));
  const result = await loadMeshConfig(dir, SETTINGS);
  t.deepEqual(result.problems, []);
  t.deepEqual([...result.snapshot!.workloads.values()].map((w) => w.name), ['a', 'c', 'b']);
});

test('a duplicate across files names the first file as the earlier place', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), pod('p', { ip: '10.0.0.1' }));
  await writeFile(join(dir, 'b.yaml'), `# second copy\n${pod('p', { ip: '10.0.0.2' })}`);
  const result = await loadMeshConfig(dir, SETTINGS);
  t.is(result.snapshot, undefined);
  t.deepEqual(result.problems.map(formatProblem), [
    `${join(dir, 'b.yaml')}:5 (document 0) Pod default/p: error: metadata.name: duplicate Pod default/p: also defined at ${join(dir, 'a.yaml')}:1 (document 0)`,
  ]);
});

test('problems in several files are all reported, each with its own file', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {podIP: 1.2.3}\n');
  await writeFile(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: q\n labels: x\n');
  const result = await loadMeshConfig(dir, SETTINGS);
  const places = result.problems.map((p) => `${p.location.file.slice(dir.length + 1)}:${p.location.line} ${p.severity}`);
  t.deepEqual(places.sort(), ['a.yaml:4 error', 'b.yaml:5 error']);
  t.deepEqual(result.counts, { workloads: 1, services: 0, policies: 0 });
});

test('an unreadable path is an error problem, not an exception', async (t) => {
  const result = await loadMeshConfig('/nonexistent/meshnode-config', SETTINGS);
  t.is(result.snapshot, undefined);
  t.is(result.problems.length, 1);
  t.regex(formatProblem(result.problems[0]!), /^\/nonexistent\/meshnode-config:0 \(document 0\): error: cannot read config: ENOENT/);
});

test('an empty directory is a valid, empty mesh', async (t) => {
  const result = await loadMeshConfig(await tempDir(t), SETTINGS);
  t.deepEqual(result.problems, []);
  t.is(result.snapshot?.workloads.size, 0);
});

test('a config file over the size limit is an error naming the file and the limit, and is not read', async (t) => {
  const dir = await tempDir(t);
  const big = join(dir, 'huge.yaml');
  // A sparse file: the limit is checked from the size, before anything is read.
  await writeFile(big, '');
  await truncate(big, CONFIG_LIMITS.bytes + 1);
  await writeFile(join(dir, 'ok.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n');
  const result = await loadMeshConfig(dir, SETTINGS);
  t.is(result.snapshot, undefined);
  t.is(result.problems.length, 1);
  t.regex(formatProblem(result.problems[0]!), /huge\.yaml:1 .*error: config is over the 32 MiB limit for all config files together/);
});
