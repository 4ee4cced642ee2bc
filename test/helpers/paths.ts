import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** Repository root (tests run from build/test/..., three levels below it); the shipped programs are in dist/. */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const meshnodeBin = resolve(repoRoot, 'dist/agent/main.js');
export const cniBin = resolve(repoRoot, 'dist/cni/main.js');
export const examplesDir = resolve(repoRoot, 'examples');
