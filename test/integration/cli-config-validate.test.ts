import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMeshnode, type CliRun } from '../helpers/meshnode-cli.js';
import { examplesDir } from '../helpers/paths.js';

function validate(...args: string[]): Promise<CliRun> {
  return runMeshnode(['config', 'validate', ...args]);
}

async function configFile(t: { teardown(fn: () => Promise<void>): void }, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, text);
  return file;
}

const BROKEN = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
status:
  podIP: 10.0.0.300
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-ssh, namespace: shop}
spec:
  action: DENY
  rules:
  - to:
    - operation:
        notport: ["22"]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
`;

test('the example config is valid: exit 0 and a summary line', async (t) => {
  const run = await validate('--config', join(examplesDir, 'mesh'));
  t.is(run.code, 0, run.stdout + run.stderr);
  t.is(run.stdout, '8 workloads, 7 services, 7 policies; 0 errors, 0 warnings\n');
});

test('an invalid config exits 1 and prints each problem with file:line and field path', async (t) => {
  const file = await configFile(t, BROKEN);
  const run = await validate('--config', file);
  t.is(run.code, 1);
  const lines = run.stdout.trimEnd().split('\n');
  t.is(lines[0], `${file}:7 (document 0) Pod shop/web: error: status.podIP: "10.0.0.300" is not an IP address`);
  t.true(lines.some((l) => l.startsWith(`${file}:17 (document 1) AuthorizationPolicy shop/deny-ssh: error: spec.rules[0].to[0].operation.notport: unknown field "notport"`)), run.stdout);
  t.true(lines.some((l) => l === `${file}:19 (document 2) Deployment shop/web: warning: apps/v1 Deployment is not a kind meshnode reads; skipped`), run.stdout);
  t.regex(lines.at(-1)!, /^1 workloads, 0 services, 1 policies; 2 errors, \d+ warnings$/);
});

test('-o json prints exactly one object with validity, problems and counts', async (t) => {
  const file = await configFile(t, BROKEN);
  const run = await validate('--config', file, '-o', 'json');
  t.is(run.code, 1);
  const out = JSON.parse(run.stdout) as {
    valid: boolean; counts: Record<string, number>;
    problems: { severity: string; file: string; line: number; kind: string; namespace: string; name: string; path: string; message: string }[];
  };
  t.false(out.valid);
  t.is(out.counts.errors, 2);
  t.like(out.problems[0], { severity: 'error', file, line: 7, kind: 'Pod', namespace: 'shop', name: 'web', path: 'status.podIP' });
});

test('-o json for a valid config says valid', async (t) => {
  const run = await validate('--config', join(examplesDir, 'mesh'), '--output', 'json', '--trust-domain', 'prod.example');
  t.is(run.code, 0);
  t.like(JSON.parse(run.stdout), { valid: true, problems: [], counts: { workloads: 8, services: 7, policies: 7, errors: 0, warnings: 0 } });
});

test('warnings alone exit 0', async (t) => {
  const file = await configFile(t, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
  const run = await validate('--config', file);
  t.is(run.code, 0);
  t.regex(run.stdout, /warning: v1 ConfigMap is not a kind meshnode reads; skipped\n0 workloads, 0 services, 0 policies; 0 errors, 1 warnings\n$/);
});

const usageCases: Array<[string, string[], RegExp]> = [
  ['a missing --config', [], /missing required flag --config/],
  ['a path that does not exist', ['--config', '/nonexistent/mesh.yaml'], /--config: cannot read "\/nonexistent\/mesh.yaml": no such file or directory/],
  ['an unknown output format', ['--config', '.', '-o', 'xml'], /-o: "xml" is not text or json/],
  ['an unknown flag', ['--config', '.', '--strict'], /--strict/],
  ['an invalid trust domain', ['--config', '.', '--trust-domain', 'Prod Example'], /--trust-domain: "Prod Example" is not a valid trust domain/],
];
for (const [title, args, message] of usageCases) {
  test(`${title} is a usage error: exit 2 with a clear message`, async (t) => {
    const run = await validate(...args);
    t.is(run.code, 2);
    t.regex(run.stderr, message);
    t.regex(run.stderr, /usage: meshnode config validate/);
  });
}
