import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchModule, BenchResult } from './result.js';

/**
 * `npm run bench [area...]`: runs every benchmark area (or the named ones) and prints one table.
 * Areas needing root (data plane, CNI) report themselves as skipped when not root.
 */
const AREAS = ['model', 'state', 'xds', 'kube', 'authz', 'identity', 'net', 'cni', 'dataplane'];

function format(r: BenchResult): string {
  const value = Number.isInteger(r.value) ? String(r.value) : r.value.toPrecision(4);
  const target = r.target ? `  (target ${r.target})` : '';
  const note = r.note ? `  — ${r.note}` : '';
  return `  ${r.name.padEnd(58)} ${value.padStart(12)} ${r.unit}${target}${note}`;
}

async function main(): Promise<number> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((a) => !AREAS.includes(a));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark area(s): ${unknown.join(', ')}; known: ${AREAS.join(', ')}\n`);
    return 2;
  }
  let failed = 0;
  for (const area of wanted.length > 0 ? wanted : AREAS) {
    const url = new URL(`./${area}.js`, import.meta.url);
    if (!existsSync(fileURLToPath(url))) {
      process.stdout.write(`${area}: no benchmark built\n`);
      continue;
    }
    process.stdout.write(`${area}:\n`);
    const started = Date.now();
    try {
      const mod = (await import(url.href)) as BenchModule;
      for (const r of await mod.run()) process.stdout.write(format(r) + '\n');
      process.stdout.write(`  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    } catch (err) {
      failed++;
      process.stdout.write(`  failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

main().then((code) => { process.exitCode = code; });
