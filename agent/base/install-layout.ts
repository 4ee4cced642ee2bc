import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where meshnode's own files are, wherever this module's code was placed. The shipped programs
 * are bundles in `dist/` (the code of many modules in one file, shared chunks in `dist/chunks/`),
 * and the tests and benchmarks run `tsc`'s module-per-file output in `build/`. A path taken
 * relative to one module's own URL would point elsewhere once that module is folded into a chunk,
 * so every such path is taken from the package root instead.
 */
const here = fileURLToPath(import.meta.url);

let root: string | undefined;

/** The directory holding meshnode's package.json (found on first use, so a copy of one bundle elsewhere still loads). */
export function packageRoot(): string {
  for (let dir = dirname(here); root === undefined; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'meshnode') root = dir;
    else if (dirname(dir) === dir) throw new Error(`meshnode's package.json not found above ${here}`);
  }
  return root;
}

/** The tree this code runs from: `dist` (the shipped bundles) or `build` (tsc's output). */
function tree(): string {
  return relative(packageRoot(), here).split(sep)[0]!;
}

/**
 * A script of the tree this code runs in, by its path in the source tree with `.js`
 * (`agent/workers/worker-main.js`): worker threads run the same build as the code starting them.
 */
export function ownScript(path: string): string {
  return join(packageRoot(), tree(), path);
}

/** A shipped program (`agent/main.js`, `cni/main.js`): what a child process is started with. */
export function shippedScript(path: string): string {
  return join(packageRoot(), 'dist', path);
}

/** The package's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
