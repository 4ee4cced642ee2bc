import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

/**
 * The source tree's layering, checked on every `npm test`: a folder imports only folders of
 * its own layer or lower, folders never import each other in a cycle, and a folder with a
 * public facade (`index.ts`) is entered only through it. The table is the architecture:
 * agent/ARCHITECTURE.md explains each layer.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['agent/base', 'agent/generated', 'agent/telemetry', 'agent/process', 'agent/capture', 'metrics'],
  ['agent/config', 'agent/net', 'agent/identity', 'agent/lifecycle', 'agent/hostnet', 'agent/h2', 'agent/grpc'],
  ['agent/model', 'agent/tunnel', 'agent/ca'],
  ['agent/authz'],
  ['agent/state'],
  ['agent/sources', 'agent/pods'],
  ['agent/proxy', 'agent/host'],
  ['agent/workers'],
  ['agent/admin'],
  ['agent/app', 'agent/cli', 'agent/demo', 'agent/main', 'cni'],
];

/** The CNI plugin is its own program: it shares only the base layer with the agent. */
const CNI_MAY_IMPORT = new Set(['agent/base', 'agent/telemetry', 'agent/process', 'agent/capture']);

const ROOTS = ['agent', 'cni', 'metrics'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** `agent/<folder>`, `agent/<root file>`, `cni` or `metrics` for a repository-relative path. */
function unitOf(rel: string): string {
  const parts = rel.split('/');
  if (parts[0] !== 'agent') return parts[0]!;
  return parts.length === 2 ? `agent/${parts[1]!.replace(/\.(ts|js)$/, '')}` : `agent/${parts[1]}`;
}

interface Import { readonly from: string; readonly to: string; readonly target: string }

function imports(root: string): Import[] {
  const out: Import[] = [];
  for (const base of ROOTS) {
    for (const file of sources(join(root, base))) {
      const rel = relative(root, file);
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
        const target = relative(root, resolve(dirname(file), m[1]!));
        out.push({ from: rel, to: unitOf(target), target });
      }
    }
  }
  return out;
}

const layerOf = new Map(LAYERS.flatMap((units, i) => units.map((u) => [u, i] as const)));
const all = imports(repoRoot);
const crossing = all.filter((i) => unitOf(i.from) !== i.to);

test('every folder is placed in a layer', (t) => {
  const unplaced = [...new Set(all.flatMap((i) => [unitOf(i.from), i.to]))].filter((u) => !layerOf.has(u));
  t.deepEqual(unplaced, []);
});

test('no folder imports a higher layer', (t) => {
  const upward = crossing
    .filter((i) => (layerOf.get(i.to) ?? 0) > (layerOf.get(unitOf(i.from)) ?? 0))
    .map((i) => `${i.from} imports ${i.target} (${i.to} is above ${unitOf(i.from)})`);
  t.deepEqual(upward, []);
});

test('folders import each other in no cycle', (t) => {
  const graph = new Map<string, Set<string>>();
  for (const i of crossing) {
    const from = unitOf(i.from);
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(i.to);
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const walk = (u: string, path: string[]) => {
    if (state.get(u) === 'done') return;
    if (state.get(u) === 'open') { cycles.push([...path.slice(path.indexOf(u)), u].join(' -> ')); return; }
    state.set(u, 'open');
    for (const v of graph.get(u) ?? []) walk(v, [...path, u]);
    state.set(u, 'done');
  };
  for (const u of graph.keys()) walk(u, []);
  t.deepEqual(cycles, []);
});

test('a folder with a facade is entered only through its index', (t) => {
  const facades = new Set(LAYERS.flat().filter((u) => {
    try { return statSync(join(repoRoot, u, 'index.ts')).isFile(); } catch { return false; }
  }));
  const bypassing = crossing
    .filter((i) => facades.has(i.to) && !/\/index\.js$/.test(i.target))
    .map((i) => `${i.from} imports ${i.target} instead of ${i.to}/index.js`);
  t.deepEqual(bypassing, []);
});

test('the CNI plugin shares only the base layer with the agent, and the agent never imports it', (t) => {
  const fromCni = crossing.filter((i) => unitOf(i.from) === 'cni' && !CNI_MAY_IMPORT.has(i.to)).map((i) => `${i.from} imports ${i.target}`);
  const intoCni = crossing.filter((i) => i.to === 'cni').map((i) => `${i.from} imports ${i.target}`);
  t.deepEqual([...fromCni, ...intoCni], []);
});

test('every error class derives from the one error base', (t) => {
  const direct = ROOTS.flatMap((base) => sources(join(repoRoot, base)))
    .filter((file) => !file.endsWith(join('agent', 'base', 'errors.ts')))
    .filter((file) => /\bextends Error\b/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(repoRoot, file));
  t.deepEqual(direct, []);
});

test('no locale API in the agent or the CNI plugin (each pages in megabytes of ICU data)', (t) => {
  const calls = ROOTS.flatMap((base) => sources(join(repoRoot, base)))
    .filter((file) => !file.endsWith(join('agent', 'base', 'text.ts')))
    .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\.localeCompare\(|\.toLocale\w*\(|\bIntl\./g)].map((m) => `${relative(repoRoot, file)}: ${m[0]}`));
  t.deepEqual(calls, []);
});
