// Before tsc: TypeScript types for every message meshnode sends or receives, generated from the
// .proto files in proto/ (the source of truth), into agent/generated/ (not committed). The loader
// options here must be the ones the code loads the same files with at run time, because they
// decide the shapes: field names as written, 64-bit integers and enums as the code reads them,
// defaults filled in, oneof names, and (for xDS) Any payloads decoded in place.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = createRequire(import.meta.url).resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
const common = ['--keepCase', '--longs=Number', '--enums=String', '--defaults', '--oneofs', '--grpcLib=@grpc/grpc-js', '--importFileExtension=.js', '-I', 'proto'];
const sets = [
  { out: 'xds', json: true, files: ['envoy/service/discovery/v3/ads.proto', 'istio/workload/workload.proto', 'istio/security/authorization.proto'], keep: 'ads.ts' },
  { out: 'ca', json: false, files: ['ca.proto'], keep: 'ca.ts' },
];

const generated = join(root, 'agent', 'generated');
rmSync(generated, { recursive: true, force: true });
for (const set of sets) {
  const out = join(generated, set.out);
  execFileSync(process.execPath, [bin, ...common, ...(set.json ? ['--json'] : []), '-O', out, ...set.files], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  // One package-definition module per input file is written; only the one naming the service is
  // used, and the others would not compile under noUnusedLocals.
  for (const file of set.files) {
    const module = file.replace(/^.*\//, '').replace(/\.proto$/, '.ts');
    if (module !== set.keep) rmSync(join(out, module));
  }
}
