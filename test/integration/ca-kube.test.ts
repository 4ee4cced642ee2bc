import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { status } from '@grpc/grpc-js';
import type { ExecutionContext } from 'ava';
import { eventually } from '../helpers/eventually.js';
import { repoRoot } from '../helpers/paths.js';
import { startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.js';
import { kubeTest } from '../helpers/kube-test.js';
import { missingTools } from '../helpers/privileged.js';
import { callCa, openssl, opensslCsr, removeDir, startCa, tempDir, TOKENS_YAML, WORKLOAD, WORKLOAD_TOKEN, writeTokens, type CaProcess, type CallResult } from './ca-support.js';

/**
 * `meshnode ca --kube` against a real kube-apiserver: tokens minted by the API server (bound to
 * pods), reviewed by it, and impersonation authorized by where the API says pods run. The CA
 * talks to the API as the meshnode-ca service account with exactly the RBAC of
 * deploy/meshnode-ca.yaml, so the manifest's grants are proven sufficient too.
 */

const TD = 'cluster.local';
const id = (ns: string, sa: string) => `spiffe://${TD}/ns/${ns}/sa/${sa}`;
const pod = (ns: string, name: string, sa: string, node?: string) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}}
spec:${node ? `\n  nodeName: ${node}` : ''}
  serviceAccountName: ${sa}
  containers: [{name: app, image: example.invalid/app}]
`;
const account = (ns: string, name: string) => `---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${name}, namespace: ${ns}}
`;

/** Two nodes: the trusted node agent and an untrusted lookalike on node-a, shop's cart on node-a, ratings only on node-b. */
const OBJECTS = `apiVersion: v1
kind: Namespace
metadata: {name: meshnode-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
${account('meshnode-system', 'meshnode')}${account('meshnode-system', 'rogue')}${account('meshnode-system', 'nobody')}${account('shop', 'cart')}${account('shop', 'ratings')}
${pod('meshnode-system', 'meshnode-a', 'meshnode', 'node-a')}${pod('meshnode-system', 'rogue-a', 'rogue', 'node-a')}
${pod('meshnode-system', 'meshnode-failed', 'meshnode', 'node-a')}${pod('meshnode-system', 'meshnode-pending', 'meshnode')}
${pod('shop', 'cart-1', 'cart', 'node-a')}${pod('shop', 'ratings-1', 'ratings', 'node-b')}`;

async function token(kube: KubeCluster, ns: string, sa: string, extra: string[] = []): Promise<string> {
  const r = await kube.kubectl(['create', 'token', sa, '-n', ns, '--duration', '1h', ...extra]);
  if (r.code !== 0) throw new Error(`kubectl create token ${ns}/${sa}: ${r.stderr}`);
  return r.stdout.trim();
}

const boundTo = (podName: string, audience = 'istio-ca') => ['--audience', audience, '--bound-object-kind', 'Pod', '--bound-object-name', podName];

/** A kubeconfig as service account `meshnode-system/<account>`. */
async function accountKubeconfig(kube: KubeCluster, dir: string, account: string): Promise<string> {
  const saToken = await token(kube, 'meshnode-system', account);
  const file = join(dir, `${account}.kubeconfig`);
  writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: sa',
    'clusters:', '- name: test', '  cluster:', `    server: ${kube.server}`, `    certificate-authority: ${kube.caFile}`,
    'users:', `- name: ${account}`, '  user:', `    token: ${saToken}`,
    'contexts:', '- name: sa', `  context: {cluster: test, user: ${account}}`, '',
  ].join('\n'));
  return file;
}

function sanOf(leafPem: string): string {
  return openssl(['x509', '-noout', '-ext', 'subjectAltName'], leafPem);
}

function assertIssued(t: ExecutionContext, r: CallResult, identity: string): void {
  if (!r.ok) {
    t.fail(`expected a certificate for ${identity}, got ${status[r.code]} ${r.details}`);
    return;
  }
  t.regex(sanOf(r.chain[0]!), new RegExp(`URI:${identity.replace(/[/.]/g, '\\$&')}\\s*$`));
}

/** Whether the CA logs the refusal; its stderr may arrive after the answer, so this waits for it. */
async function refusalLogged(ca: CaProcess, refusal: string, reason: RegExp, since = 0): Promise<boolean> {
  const found = () => ca.logs.slice(since).some((l) => l.msg === 'refused certificate request' && l.refusal === refusal && reason.test(String(l.reason)));
  return eventually(() => { if (!found()) throw new Error('not logged'); return true; }, 5_000).catch(() => false);
}

kubeTest('meshnode ca --kube: TokenReview and the node authorizer against a real API server', async (t) => {
  const work = tempDir('meshnode-ca-kube-');
  t.teardown(() => removeDir(work));
  const kube = await startKubeCluster({ crds: false });
  t.teardown(() => kube.close());
  await kube.apply(OBJECTS);
  // The CA's own account, holding only the RBAC of deploy/meshnode-ca.yaml.
  await kube.apply(readFileSync(join(repoRoot, 'deploy/meshnode-ca.yaml'), 'utf8'));
  const kubeconfig = await accountKubeconfig(kube, work, 'meshnode-ca');
  const ca = await startCa(join(work, 'ca'), [
    '--kube', '--kubeconfig', kubeconfig, '--tokens', writeTokens(work, TOKENS_YAML), '--metrics-address', '127.0.0.1:0',
  ]);
  t.teardown(() => ca.stop());
  const root = readFileSync(join(work, 'ca', 'root-cert.pem'), 'utf8');
  const csr = (ns: string, sa: string) => opensslCsr(work, `${ns}-${sa}`, 'ec', id(ns, sa)).csr;
  const call = (tok: string, ns: string, sa: string, impersonate = true) =>
    callCa(ca.port, root, { csr: csr(ns, sa), token: tok, ...(impersonate ? { impersonate: id(ns, sa) } : {}) });

  const node = await token(kube, 'meshnode-system', 'meshnode', boundTo('meshnode-a'));
  assertIssued(t, await call(node, 'shop', 'cart'), id('shop', 'cart'));
  await eventually(() => {
    if (!ca.logs.some((l) => l.msg === 'issued certificate' && l.via === 'kubernetes-token' && l.caller === id('meshnode-system', 'meshnode') && l.identity === id('shop', 'cart'))) throw new Error('no audit line');
  });

  const elsewhere = await call(node, 'shop', 'ratings');
  t.like(elsewhere, { ok: false, code: status.UNAUTHENTICATED, details: 'request impersonation authentication failure' });
  t.true(await refusalLogged(ca, 'not-on-node', /no pod of shop\/ratings runs on node node-a/));

  const otherAudience = await token(kube, 'meshnode-system', 'meshnode', boundTo('meshnode-a', 'not-istio-ca'));
  t.like(await call(otherAudience, 'shop', 'cart'), { ok: false, code: status.UNAUTHENTICATED, details: 'request authenticate failure' });
  t.true(await refusalLogged(ca, 'token-invalid', /audience/), JSON.stringify(ca.logs.slice(-1)));

  const rogue = await token(kube, 'meshnode-system', 'rogue', boundTo('rogue-a'));
  t.like(await call(rogue, 'shop', 'cart'), { ok: false, code: status.UNAUTHENTICATED, details: 'request impersonation authentication failure' });
  t.true(await refusalLogged(ca, 'untrusted-node-account', /meshnode-system\/rogue is not a trusted node account/));

  // A trusted account whose pod has failed, or is not scheduled yet, speaks for no node.
  await kube.setPodStatus('meshnode-system', 'meshnode-failed', { podIP: '10.0.0.9', phase: 'Failed' });
  const failed = await token(kube, 'meshnode-system', 'meshnode', boundTo('meshnode-failed'));
  t.like(await call(failed, 'shop', 'cart'), { ok: false, code: status.UNAUTHENTICATED });
  t.true(await refusalLogged(ca, 'caller-pod-mismatch', /caller pod meshnode-system\/meshnode-failed not found \(it has failed\)/));
  const pending = await token(kube, 'meshnode-system', 'meshnode', boundTo('meshnode-pending'));
  t.like(await call(pending, 'shop', 'cart'), { ok: false, code: status.UNAUTHENTICATED });
  t.true(await refusalLogged(ca, 'caller-pod-mismatch', /caller pod meshnode-system\/meshnode-pending is not scheduled on a node/));

  // A workload's own token (not bound to a pod) obtains its own identity, and nothing else.
  const cart = await token(kube, 'shop', 'cart', ['--audience', 'istio-ca']);
  assertIssued(t, await call(cart, 'shop', 'cart', false), id('shop', 'cart'));
  t.like(await call(cart, 'shop', 'ratings'), { ok: false, code: status.UNAUTHENTICATED });
  t.true(await refusalLogged(ca, 'untrusted-node-account', /shop\/cart is not a trusted node account/));

  // Static tokens keep working beside the API.
  assertIssued(t, await callCa(ca.port, root, { csr: opensslCsr(work, 'static', 'ec', WORKLOAD).csr, token: WORKLOAD_TOKEN }), WORKLOAD);

  // No answer from the API: the caller may retry (UNAVAILABLE) and the refusal is not remembered.
  const fresh = await token(kube, 'meshnode-system', 'meshnode', boundTo('meshnode-a'));
  await kube.stopApiserver();
  t.like(await call(fresh, 'shop', 'cart'), { ok: false, code: status.UNAVAILABLE });
  t.true(await refusalLogged(ca, 'review-unavailable', /TokenReview/));
  await kube.startApiserver();
  assertIssued(t, await call(fresh, 'shop', 'cart'), id('shop', 'cart'));

  const metrics = await (await fetch(`http://127.0.0.1:${ca.logs.find((l) => l.msg === 'listening')!.metricsPort as number}/metrics`)).text();
  t.regex(metrics, /meshnode_ca_certificates_issued_total\{via="kubernetes-token"\} 3\n/);
  t.regex(metrics, /meshnode_ca_certificates_issued_total\{via="static-token"\} 1\n/);
  for (const reason of ['not-on-node', 'token-invalid', 'review-unavailable']) t.regex(metrics, new RegExp(`meshnode_ca_requests_refused_total\\{reason="${reason}"\\} 1\\n`));
  t.regex(metrics, /meshnode_ca_requests_refused_total\{reason="caller-pod-mismatch"\} 2\n/);
  t.regex(metrics, /meshnode_ca_requests_refused_total\{reason="untrusted-node-account"\} 2\n/);
  t.regex(metrics, /meshnode_ca_request_duration_seconds_count\{result="issued"\} 4\n/);
  const mean = (result: string) => {
    const sum = Number(new RegExp(`meshnode_ca_request_duration_seconds_sum\\{result="${result}"\\} (\\S+)`).exec(metrics)?.[1]);
    const count = Number(new RegExp(`meshnode_ca_request_duration_seconds_count\\{result="${result}"\\} (\\S+)`).exec(metrics)?.[1]);
    return `${((sum / count) * 1000).toFixed(1)} ms over ${count}`;
  };
  t.log(`mean handling time: issued ${mean('issued')}, refused ${mean('refused')}`);
  if (missingTools(['promtool']).length === 0) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    t.is(check.status, 0, check.stdout + check.stderr);
  }

  // The node agent's pod replaced (same name, new uid): its old token obtains nothing, whether
  // the CA's pod check or the API server's binding check notices first.
  await kube.kubectl(['delete', 'pod', 'meshnode-a', '-n', 'meshnode-system', '--grace-period=0', '--force']);
  await kube.apply(pod('meshnode-system', 'meshnode-a', 'meshnode', 'node-a'));
  const before = ca.logs.length;
  const stale = await call(fresh, 'shop', 'cart');
  t.like(stale, { ok: false, code: status.UNAUTHENTICATED });
  await eventually(() => { if (ca.logs.length === before) throw new Error('no log line yet'); });
  const why = ca.logs.slice(before).find((l) => l.msg === 'refused certificate request');
  t.log(`replaced caller pod: ${String(why?.refusal)}: ${String(why?.reason)}`);
  t.true(why?.refusal === 'caller-pod-mismatch' || why?.refusal === 'token-invalid', JSON.stringify(why));

  // A CA whose account may not review tokens says exactly that in its log; callers may retry.
  const unbound = await startCa(join(work, 'ca'), ['--kube', '--kubeconfig', await accountKubeconfig(kube, work, 'nobody')]);
  t.teardown(() => unbound.stop());
  t.like(await callCa(unbound.port, root, { csr: csr('shop', 'cart'), token: cart }), { ok: false, code: status.UNAVAILABLE });
  t.true(await refusalLogged(unbound, 'review-unavailable', /TokenReview: HTTP 403 \(.*cannot create resource "tokenreviews"/), JSON.stringify(unbound.logs.slice(-1)));
});
