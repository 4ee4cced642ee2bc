import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMeshnode, type CliRun } from '../helpers/meshnode-cli.js';

/** `meshnode authz check` as a user runs it: a real process, a config on disk, exit codes. */
const MESH = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, uid: 1b0e, labels: {app: web}}
spec: {serviceAccountName: web, nodeName: node-a}
status: {podIP: 10.0.1.5, podIPs: [{ip: 10.0.1.5}, {ip: "fd00::5"}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: shop, labels: {app: legacy}, annotations: {meshnode.io/node: node-b}}
spec: {address: 10.0.5.1, serviceAccount: legacy}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: block-legacy, namespace: shop}
spec:
  action: DENY
  selector: {matchLabels: {app: web}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/shop/sa/legacy"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-front, namespace: shop}
spec:
  rules:
  - from: [{source: {namespaces: ["front"]}}]
    to: [{operation: {ports: ["8080"]}}]
  - when: [{key: destination.ip, values: ["fd00::5"]}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: shop}
spec: {mtls: {mode: STRICT}}
`;

const BROKEN = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: typo, namespace: shop}
spec:
  action: DENY
  rules:
  - to: [{operation: {notPort: ["22"]}}]
`;

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'authz-check-'));
  await writeFile(join(dir, 'mesh.yaml'), MESH);
  await writeFile(join(dir, 'broken.yaml'), BROKEN);
});
test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function check(args: string[], config = 'mesh.yaml'): Promise<CliRun> {
  return runMeshnode(['authz', 'check', '--config', join(dir, config), ...args]);
}

const FRONT = ['--from-identity', 'spiffe://cluster.local/ns/front/sa/shopper'];
const LEGACY = ['--from-identity', 'spiffe://cluster.local/ns/shop/sa/legacy'];
const WEB = ['--to', 'shop/web', '--from-ip', '10.0.2.7'];

const jsonCases: { title: string; args: string[]; want: { decision: string; policy: string | null; reason: RegExp } }[] = [
  { title: 'ALLOW match', args: [...WEB, '--port', '8080', ...FRONT], want: { decision: 'allow', policy: 'shop/allow-front', reason: /allowed by ALLOW policy shop\/allow-front rule 0/ } },
  { title: 'DENY match', args: [...WEB, '--port', '8080', ...LEGACY], want: { decision: 'deny', policy: 'shop/block-legacy', reason: /denied by DENY policy shop\/block-legacy rule 0/ } },
  { title: 'no ALLOW matched', args: [...WEB, '--port', '9090', ...FRONT], want: { decision: 'deny', policy: null, reason: /no ALLOW policy matched \(1 applied: shop\/allow-front\)/ } },
  { title: 'plaintext under STRICT', args: [...WEB, '--port', '8080', '--plaintext'], want: { decision: 'deny', policy: 'istio-system/istio_converted_static_strict', reason: /^plaintext connection refused: PeerAuthentication shop\/strict \(namespace-wide\) sets STRICT for port 8080$/ } },
  { title: '--to-ip picks the IPv6 address', args: [...WEB, '--port', '9090', '--to-ip', 'fd00:0::5', ...FRONT], want: { decision: 'allow', policy: 'shop/allow-front', reason: /rule 1/ } },
  { title: 'WorkloadEntry destination', args: ['--to', 'shop/vm', '--from-ip', '10.0.2.7', '--port', '8080', ...FRONT], want: { decision: 'allow', policy: 'shop/allow-front', reason: /rule 0/ } },
  { title: 'IPv4-mapped --from-ip is accepted', args: ['--to', 'shop/web', '--from-ip', '::ffff:10.0.2.7', '--port', '8080', ...LEGACY], want: { decision: 'deny', policy: 'shop/block-legacy', reason: /DENY/ } },
  { title: 'custom root namespace names the static policy', args: [...WEB, '--port', '8080', '--plaintext', '--root-namespace', 'mesh-root'], want: { decision: 'deny', policy: 'mesh-root/istio_converted_static_strict', reason: /STRICT/ } },
];

for (const c of jsonCases) {
  test(`-o json: ${c.title} → ${c.want.decision}, exit 0`, async (t) => {
    const r = await check([...c.args, '-o', 'json']);
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    t.is(lines.length, 1, 'exactly one JSON object');
    const out = JSON.parse(lines[0]!) as { decision: string; policy: string | null; reason: string };
    t.deepEqual(Object.keys(out), ['decision', 'policy', 'reason']);
    t.is(out.decision, c.want.decision);
    t.is(out.policy, c.want.policy);
    t.regex(out.reason, c.want.reason);
  });
}

test('text output: decision, policy and reason lines', async (t) => {
  const r = await check([...WEB, '--port', '8080', ...LEGACY]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, 'decision: deny\npolicy:   shop/block-legacy\nreason:   denied by DENY policy shop/block-legacy rule 0\n');
});

test('text output says when no policy decided', async (t) => {
  const r = await check([...WEB, '--port', '9090', ...FRONT]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^decision: deny\npolicy: {3}\(none\)\nreason: {3}no ALLOW policy matched/);
});

const badInput: { title: string; args: string[]; config?: string; stderr: RegExp }[] = [
  { title: 'unknown workload', args: ['--to', 'shop/nope', '--from-ip', '10.0.2.7', '--port', '80', '--plaintext'], stderr: /no Pod or WorkloadEntry shop\/nope/ },
  { title: 'bad --from-ip', args: ['--to', 'shop/web', '--from-ip', '10.0.2', '--port', '80', '--plaintext'], stderr: /--from-ip: "10.0.2" is not an IP address/ },
  { title: 'bad --to-ip', args: [...WEB, '--to-ip', 'nope', '--port', '80', '--plaintext'], stderr: /--to-ip: "nope" is not an IP address/ },
  { title: '--to-ip not an address of the workload', args: [...WEB, '--to-ip', '10.0.1.6', '--port', '80', '--plaintext'], stderr: /10\.0\.1\.6 is not an address of Pod shop\/web \(its addresses: 10\.0\.1\.5, fd00::5\)/ },
  { title: 'malformed identity', args: [...WEB, '--port', '80', '--from-identity', 'spiffe://cluster.local/sa/x'], stderr: /--from-identity: identity .* must have the form/ },
  { title: 'both --plaintext and --from-identity', args: [...WEB, '--port', '80', '--plaintext', ...FRONT], stderr: /exactly one of --from-identity or --plaintext/ },
  { title: 'neither --plaintext nor --from-identity', args: [...WEB, '--port', '80'], stderr: /exactly one of --from-identity or --plaintext/ },
  { title: 'bad port', args: [...WEB, '--port', '70000', '--plaintext'], stderr: /--port: "70000" is not a port number/ },
  { title: '--to without a namespace', args: ['--to', 'web', '--from-ip', '10.0.2.7', '--port', '80', '--plaintext'], stderr: /--to: "web" is not NAMESPACE\/NAME/ },
  { title: 'missing --port', args: [...WEB, '--plaintext'], stderr: /missing required flag --port/ },
  { title: 'unknown flag', args: [...WEB, '--port', '80', '--plaintext', '--from-namespace', 'x'], stderr: /unknown flag --from-namespace/ },
  { title: 'bad output format', args: [...WEB, '--port', '80', '--plaintext', '-o', 'yaml'], stderr: /-o: "yaml" is not text or json/ },
  { title: 'invalid config prints its problems', args: [...WEB, '--port', '80', '--plaintext'], config: 'broken.yaml', stderr: /spec\.rules\[0\]\.to\[0\]\.operation\.notPort: unknown field "notPort"[^]*the config has 1 error/ },
  { title: 'missing config file', args: [...WEB, '--port', '80', '--plaintext'], config: 'absent.yaml', stderr: /--config: cannot read .*no such file or directory/ },
];

for (const c of badInput) {
  test(`bad input: ${c.title} → exit 2 with a clear message`, async (t) => {
    const r = await check(c.args, c.config);
    t.is(r.code, 2, r.stdout);
    t.is(r.stdout, '');
    t.regex(r.stderr, c.stderr);
  });
}
