// After tsc: the shipped programs, bundled from tsc's output in build/ into dist/.
//
// Why bundle: an ES module costs memory for as long as the process lives (its record, its
// namespace, its source text kept for lazy compilation), and the agent is ~300 of them. One
// minified file per program with shared chunks measured 2.3 MB less RSS for an idle agent (66.3
// → 64.0 MB) and ~20 ms less start-up for each meshnode-cni call (docs/dataplane.md, "Memory").
//
// Layout: every program keeps its path (dist/agent/main.js, dist/cni/main.js, the worker
// scripts, the command modules main.js imports by computed name); code they share lands in
// dist/chunks/. Code that needs one of meshnode's own files finds it from the package root
// (agent/base/install-layout.ts), never from its own module URL, which bundling moves.
// Packages stay external where they load files of their own at run time (koffi's native
// module) or are imported on use only (gRPC and its proto loader for `meshnode ca` and xDS,
// the Kubernetes client for `--kube`).
import { build } from 'esbuild';
import { chmodSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const from = join(root, 'build');
const out = join(root, 'dist');

function scripts(dir) {
  return readdirSync(join(from, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(from, path)).isDirectory()) return scripts(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

const agentEntries = [
  'agent/main.js',
  // main.js imports each command's module by a computed specifier, so each is a program of its own.
  ...scripts('agent/cli'),
  'agent/workers/worker-main.js',
  'agent/sources/yaml/worker.js',
  'agent/demo/sample-app.js',
];

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  // Error classes name themselves from new.target.name; stack traces keep function names.
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  // CommonJS packages folded into an ES module still call require() for Node's built-ins.
  banner: { js: "import { createRequire as __meshnodeRequire } from 'node:module'; const require = __meshnodeRequire(import.meta.url);" },
};

rmSync(out, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: agentEntries.map((p) => join(from, p)),
  outbase: from,
  outdir: out,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  external: ['koffi', '@grpc/grpc-js', '@grpc/proto-loader', '@kubernetes/client-node'],
});
// The CNI plugin is copied alone onto each node (deploy/install-cni.sh): one file, no chunks,
// no packages.
await build({ ...common, entryPoints: [join(from, 'cni/main.js')], outfile: join(out, 'cni/main.js') });

for (const bin of ['agent/main.js', 'cni/main.js']) chmodSync(join(out, bin), 0o755);
process.stdout.write(`bundled ${agentEntries.length + 1} programs into ${relative(root, out)}/\n`);
