import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { repoRoot } from '../helpers/paths.js';

/**
 * The shipped bundles in dist/ (scripts/bundle.mjs) keep the contract the rest of the package
 * relies on: every module `meshnode` loads by a computed name exists beside it, every relative
 * import of a bundle resolves to a file that was written, and the CNI plugin, which is copied
 * alone onto each node, imports nothing but Node's built-ins.
 */
const dist = join(repoRoot, 'dist');

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
}

function packageImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^."'][^"']*)["']/g)].map((m) => m[1]!).filter((s) => !s.startsWith('node:'));
}

/** The modules `meshnode` imports by computed name, from its command table. */
const commandModules = [...readFileSync(join(repoRoot, 'agent/main.ts'), 'utf8').matchAll(/module: '(\.\/[^']+)'/g)]
  .map((m) => resolve(dist, 'agent', m[1]!));

test('every command module of meshnode is a bundle beside dist/agent/main.js', (t) => {
  t.true(commandModules.length > 10, 'the command table was found');
  for (const m of commandModules) t.true(existsSync(m), `${m} exists`);
});

test('every relative import of a bundle names a file that was written, transitively from each program', (t) => {
  const seen = new Set<string>();
  const programs = ['agent/main.js', 'agent/workers/worker-main.js', 'agent/sources/yaml/worker.js', 'agent/demo/sample-app.js', 'cni/main.js'];
  const queue = [...programs.map((p) => join(dist, p)), ...commandModules];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    t.true(existsSync(file), `${file} exists`);
    if (!existsSync(file)) continue;
    for (const spec of relativeImports(file)) queue.push(resolve(dirname(file), spec));
  }
  t.true(seen.size > 10, `the programs and their chunks were walked (${seen.size} files)`);
});

test('meshnode-cni is one file importing only Node built-ins', (t) => {
  const file = join(dist, 'cni/main.js');
  t.deepEqual(relativeImports(file), []);
  t.deepEqual(packageImports(file), []);
  t.true(readFileSync(file, 'utf8').startsWith('#!/usr/bin/env node'), 'it keeps its interpreter line');
});
