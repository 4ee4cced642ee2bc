import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMeshnode } from '../helpers/meshnode-cli.js';

// `meshnode config validate` and `authz check` as a user runs them, on configs an adversarial
// review found accepted (or hanging): every one must now be a clear error.

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshnode-harden-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function configFile(t: { teardown(fn: () => Promise<void>): void }, text: string): Promise<string> {
  const file = join(await tempDir(t), 'mesh.yaml');
  await writeFile(file, text);
  return file;
}

const denyAll = (apiVersion: string, kind: string, name: string) =>
  `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: ${name}, namespace: istio-system}\nspec: {action: DENY, rules: [{}]}\n`;

// [apiVersion, kind, field named, what the message must say]
const lookalikes: [string, string, string, RegExp][] = [
  ['security.istio.io/v1beta', 'AuthorizationPolicy', 'apiVersion', /expected security\.istio\.io\/v1 or security\.istio\.io\/v1beta1/],
  ['security.istio.io/v1alpha1', 'AuthorizationPolicy', 'apiVersion', /not a version of AuthorizationPolicy/],
  ['security.istio.io/v2', 'PeerAuthentication', 'apiVersion', /not a version of PeerAuthentication/],
  ['networking.istio.io/v1', 'AuthorizationPolicy', 'apiVersion', /not a version of AuthorizationPolicy/],
  ['security.istio.io/v1', 'AuthorisationPolicy', 'kind', /did you mean "AuthorizationPolicy"/],
  ['security.istio.io/v1', 'authorizationpolicy', 'kind', /did you mean "AuthorizationPolicy"/],
  ['security.istio.io/v1beta1', 'PeerAuthentications', 'kind', /did you mean "PeerAuthentication"/],
  ['security.istio.io/v1', 'requestauthentication', 'kind', /did you mean "RequestAuthentication"/],
  ['security.istio.io/v1', 'Sidecar', 'kind', /not a kind of security\.istio\.io/],
  ['security.istio.io/v2', 'RequestAuthentication', 'apiVersion', /not a version of RequestAuthentication/],
];

test('a security object with a mistyped apiVersion or kind is an error naming the field and what was expected, also in a List', async (t) => {
  const docs = lookalikes.map(([v, k], i) => denyAll(v, k, `p${i}`));
  const listed = docs.map((d) => d.trimEnd().split('\n').map((line, j) => (j === 0 ? '- ' : '  ') + line).join('\n') + '\n').join('');
  const file = await configFile(t, [...docs, `apiVersion: v1\nkind: List\nitems:\n${listed}`].join('---\n'));
  const run = await runMeshnode(['config', 'validate', '--config', file]);
  t.is(run.code, 1, run.stdout);
  const lines = run.stdout.trimEnd().split('\n');
  lookalikes.forEach(([v, k, field, message], i) => {
    const errors = lines.filter((l) => l.includes(` ${k} istio-system/p${i}: error: ${field}: `));
    t.is(errors.length, 2, `${v} ${k}: once as a document, once as a list item\n${run.stdout}`);
    for (const e of errors) {
      t.regex(e, message);
      t.regex(e, /fail open/);
    }
  });
  t.regex(lines.at(-1)!, new RegExp(`; ${lookalikes.length * 2} errors, 0 warnings$`));
});

test('RequestAuthentication as Istio spells it is still skipped with a warning (L7, enforced by waypoints)', async (t) => {
  const file = await configFile(t, denyAll('security.istio.io/v1', 'RequestAuthentication', 'jwt').replace(/spec:.*/, 'spec: {}'));
  const run = await runMeshnode(['config', 'validate', '--config', file]);
  t.is(run.code, 0, run.stdout);
  t.regex(run.stdout, /RequestAuthentication istio-system\/jwt: warning: RequestAuthentication \(JWT\) is L7 and enforced by waypoints/);
});

test('a FIFO as the config is refused at once, not read forever', async (t) => {
  const fifo = join(await tempDir(t), 'mesh.yaml');
  execFileSync('mkfifo', [fifo]);
  const run = await runMeshnode(['config', 'validate', '--config', fifo], 15_000);
  t.is(run.code, 1, `exit ${run.code}: ${run.stdout}${run.stderr}`);
  t.regex(run.stdout, /mesh\.yaml:1 \(document 0\): error: is a FIFO \(named pipe\), not a regular file/);
});

test('a symlink to /dev/zero is refused as a device, without reading it', async (t) => {
  const link = join(await tempDir(t), 'mesh.yaml');
  await symlink('/dev/zero', link);
  const run = await runMeshnode(['config', 'validate', '--config', link], 15_000);
  t.is(run.code, 1, `exit ${run.code}: ${run.stderr}`);
  t.regex(run.stdout, /error: is a character device, not a regular file/);
});

test('a FIFO among a directory\'s files is an error for that file; the other files are still checked', async (t) => {
  const dir = await tempDir(t);
  execFileSync('mkfifo', [join(dir, 'a.yaml')]);
  await writeFile(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nstatus: {podIP: 10.0.0.300}\n');
  const run = await runMeshnode(['config', 'validate', '--config', dir], 15_000);
  t.is(run.code, 1);
  t.regex(run.stdout, /a\.yaml:1 \(document 0\): error: is a FIFO/);
  t.regex(run.stdout, /b\.yaml:\d+ \(document 0\) Pod shop\/web: error: status\.podIP/);
});

test('a name with a newline cannot forge a line of the text output', async (t) => {
  const file = await configFile(t, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "x\\nmesh.yaml:1 (document 0) Pod shop/web: error: forged"\n'
    + '---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: "a\\u2028b", namespace: shop}\nspec: {}\n');
  const run = await runMeshnode(['config', 'validate', '--config', file]);
  const lines = run.stdout.trimEnd().split('\n');
  t.is(lines.length, 3, run.stdout);
  t.regex(lines[0]!, /AuthorizationPolicy shop\/a\\u2028b: error: metadata\.name: "a\\u2028b" is not a valid name/);
  t.regex(lines[1]!, /ConfigMap x\\nmesh\.yaml:1 \(document 0\) Pod shop\/web: error: forged: warning: /);
  t.is(run.code, 1);
});

test('a warning repeated for every object is one line with a count and the first places', async (t) => {
  const deployments = Array.from({ length: 1_000 }, (_, i) => `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d${i}, namespace: shop}\n`);
  const file = await configFile(t, [...deployments, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n'].join('---\n'));
  const run = await runMeshnode(['config', 'validate', '--config', file]);
  t.is(run.code, 0);
  const lines = run.stdout.trimEnd().split('\n');
  t.is(lines.length, 3, run.stdout.slice(0, 2000));
  t.regex(lines[0]!, /mesh\.yaml:1 \(document 0\) Deployment shop\/d0: warning: apps\/v1 Deployment is not a kind meshnode reads; skipped \(and 999 more: .*mesh\.yaml:5 \(document 1\), .*mesh\.yaml:9 \(document 2\), .*mesh\.yaml:13 \(document 3\), \.\.\.\)$/);
  t.regex(lines[1]!, /ConfigMap c: warning: v1 ConfigMap is not a kind/);
  t.is(lines[2], '0 workloads, 0 services, 0 policies; 0 errors, 1001 warnings');
});

const badTrustDomains = ['', 'Cluster.Local', 'cluster local', 'td/evil', 'a'.repeat(256), 'td\n'];
for (const td of badTrustDomains) {
  test(`authz check refuses --trust-domain ${JSON.stringify(td.length > 20 ? `${td.slice(0, 8)}... (${td.length})` : td)}`, async (t) => {
    const file = await configFile(t, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n');
    const run = await runMeshnode(['authz', 'check', '--config', file, '--to', 'shop/web', '--port', '80', '--from-ip', '10.0.0.1',
      '--plaintext', '--trust-domain', td]);
    t.is(run.code, 2, run.stderr);
    t.regex(run.stderr, /--trust-domain: .* is not a valid trust domain \(1-255 lower-case letters/);
  });
}
