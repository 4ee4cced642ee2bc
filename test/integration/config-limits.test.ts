import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseFile } from '../../agent/config/documents.js';
import { CONFIG_LIMITS } from '../../agent/config/limits.js';
import { formatProblem, Problems } from '../../agent/config/problems.js';
import { loadMeshConfig } from '../../agent/model/load.js';
import { podDocuments, podList, tokenCount } from '../helpers/big-configs.js';
import { repoRoot } from '../helpers/paths.js';

// The config limits (agent/config/limits.ts) against the memory budget: a config at every limit at
// once loads within 256 MB peak RSS in a process of its own, and one over any limit is refused
// with an error naming the limit.
const BUDGET_MB = 256;
/** The V8 heap flags the agent runs with (agent/main.ts). */
const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--initial-old-space-size=32'];
const SETTINGS = { trustDomain: 'cluster.local', rootNamespace: 'istio-system' };

async function tempFile(t: { teardown(fn: () => Promise<void>): void }, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-limits-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, text);
  return file;
}

async function loadInChild(path: string): Promise<{ maxRssMb: number; errors: string[]; warnings: number }> {
  const child = resolve(repoRoot, 'build/test/helpers/load-config-child.js');
  const { stdout } = await promisify(execFile)(process.execPath, [...AGENT_NODE_FLAGS, child, path], { timeout: 120_000 });
  return JSON.parse(stdout) as { maxRssMb: number; errors: string[]; warnings: number };
}

test.serial('a config at the token limits (pods, then one kind: List as large as a document may be) loads within the memory budget', async (t) => {
  const list = podList(1_000_000, CONFIG_LIMITS.tokensPerDocument - 100);
  const text = `${podDocuments(0, CONFIG_LIMITS.tokens - tokenCount(list) - 1_000)}---\n${list}`;
  t.true(tokenCount(text) > CONFIG_LIMITS.tokens * 0.99, 'the config is at the limit');
  const result = await loadInChild(await tempFile(t, text));
  t.deepEqual(result.errors, []);
  t.log(`peak RSS ${result.maxRssMb} MB for ${tokenCount(text)} tokens, ${(text.length / 1024 / 1024).toFixed(1)} MiB`);
  t.true(result.maxRssMb < BUDGET_MB, `peak RSS ${result.maxRssMb} MB`);
});

test.serial('a config of as many documents as allowed loads within the memory budget', async (t) => {
  const docs = Array.from({ length: CONFIG_LIMITS.documents }, (_, i) => `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d${i}}\n`);
  const result = await loadInChild(await tempFile(t, docs.join('---\n')));
  t.deepEqual(result.errors, []);
  t.is(result.warnings, CONFIG_LIMITS.documents);
  t.log(`peak RSS ${result.maxRssMb} MB`);
  t.true(result.maxRssMb < BUDGET_MB, `peak RSS ${result.maxRssMb} MB`);
});

test.serial('a config of the largest scalars, up to the byte limit, loads within the memory budget', async (t) => {
  const scalar = 'x'.repeat(CONFIG_LIMITS.scalarChars - 16);
  const count = Math.floor((CONFIG_LIMITS.bytes - 4096) / (CONFIG_LIMITS.scalarChars + 64));
  const docs = Array.from({ length: count }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}}\ndata: {v: ${scalar}}\n`);
  const result = await loadInChild(await tempFile(t, docs.join('---\n')));
  t.deepEqual(result.errors, []);
  t.log(`peak RSS ${result.maxRssMb} MB`);
  t.true(result.maxRssMb < BUDGET_MB, `peak RSS ${result.maxRssMb} MB`);
});

function parseErrors(text: string): string[] {
  const problems = new Problems();
  parseFile('mesh.yaml', text, problems);
  return problems.errors.map(formatProblem);
}

test('tokens over the total are refused, naming the limit', (t) => {
  const text = podDocuments(0, CONFIG_LIMITS.tokens * 1.01);
  t.true(tokenCount(text) > CONFIG_LIMITS.tokens);
  const errors = parseErrors(text);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /error: too many YAML tokens, over the limit of 2,000,000$/);
});

test('a document over the per-document token limit is refused, naming the limit and the document', (t) => {
  const errors = parseErrors(`apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n${podList(0, CONFIG_LIMITS.tokensPerDocument + 2_000)}`);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /^mesh\.yaml:\d+ \(document 1\): error: too many YAML tokens in one document, over the limit of 300,000$/);
});

test('a 20 MB single line is refused as an oversized scalar before it is parsed', (t) => {
  const errors = parseErrors(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {x: "${'a'.repeat(20 * 1024 * 1024)}"}\n`);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /^mesh\.yaml:4 \(document 0\): error: a scalar \(or comment\) of 20,971,522 characters, over the limit of 256 KiB$/);
});

test('one document over the document limit is refused, naming the limit', (t) => {
  const errors = parseErrors(Array.from({ length: CONFIG_LIMITS.documents + 1 }, (_, i) => `kind: K${i}\n`).join('---\n'));
  t.is(errors.length, 1);
  t.regex(errors[0]!, /\(document 50000\): error: too many YAML documents, over the limit of 50,000$/);
});

test('list items count as documents: a List taking the total over the limit is refused', async (t) => {
  const docs = Array.from({ length: CONFIG_LIMITS.documents - 1 }, (_, i) => `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d${i}}\n`);
  const list = 'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n';
  const result = await loadMeshConfig(await tempFile(t, [...docs, list].join('---\n')), SETTINGS);
  const errors = result.problems.filter((p) => p.severity === 'error').map(formatProblem);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /Namespace b: error: too many objects \(documents and list items\), over the limit of 50,000$/);
  t.is(result.snapshot, undefined);
});

test('a directory of more config files than allowed is refused, naming the limit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-limits-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await Promise.all(Array.from({ length: CONFIG_LIMITS.files + 1 }, (_, i) => writeFile(join(dir, `f${i}.yaml`), '')));
  const result = await loadMeshConfig(dir, SETTINGS);
  t.deepEqual(result.problems.map(formatProblem), [`${dir}:1 (document 0): error: directory has 1001 config files, over the limit of 1,000`]);
});

test('files of a directory count against one byte limit together', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-limits-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const half = `# ${'x'.repeat(200)}\n`.repeat(Math.ceil(CONFIG_LIMITS.bytes / 2 / 203) + 10);
  await writeFile(join(dir, 'a.yaml'), half);
  await writeFile(join(dir, 'b.yaml'), half);
  const result = await loadMeshConfig(dir, SETTINGS);
  t.deepEqual(result.problems.map(formatProblem),
    [`${join(dir, 'b.yaml')}:1 (document 0): error: config is over the 32 MiB limit for all config files together; split the mesh or drop objects meshnode does not read`]);
});
