import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildApp, type AgentOptions, type Bound } from '../../agent/app.js';
import { createCertManager } from '../../agent/identity/cert-manager.js';
import { asSpiffeId, type SpiffeId } from '../../agent/base/spiffe-id.js';
import { HboneConnection } from '../../agent/tunnel/hbone-connection.js';
import { secureContextFor } from '../../agent/tunnel/tls-config.js';
import { setLogSink } from '../../agent/telemetry/log.js';
import { eventually } from '../helpers/eventually.js';
import { httpGet, loopbackNamespace, registerPod } from '../helpers/in-process-agent.js';
import { runMeshnode } from '../helpers/meshnode-cli.js';
import { missingTools } from '../helpers/privileged.js';
import { NODE_TOKEN, recordingLogger, removeDir, startCa, tempDir, writeTokens, type CaProcess } from './ca-support.js';

/**
 * `meshnode ctl` (every subcommand, tables and JSON/YAML) and `authz check --admin` against a
 * whole agent running in this process: a real `meshnode ca`, the YAML source, the certificate
 * manager, a pod registered over the CNI API and a real HBONE connection from a client
 * workload, kept open while `ctl connections` lists it.
 */
const TD = 'cluster.local';
const id = (sa: string): SpiffeId => asSpiffeId(`spiffe://${TD}/ns/shop/sa/${sa}`)!;
/** client-0's address in the config; its HBONE connection here comes from loopback, as the stand-in netns listens there. */
const CLIENT_IP = '10.77.0.2';

const MESH = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-6d4cf56db6-x2k9p, namespace: shop, uid: uid-web, labels: {app: web, version: v2, pod-template-hash: 6d4cf56db6}}
spec: {nodeName: n1, serviceAccountName: web, containers: [{name: web, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.77.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: client-0, namespace: shop, labels: {app.kubernetes.io/name: shopper}}
spec: {nodeName: n2, serviceAccountName: client}
status: {podIP: ${CLIENT_IP}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, clusterIP: 10.96.0.10, ports: [{port: 80, targetPort: http}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: shop}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-client, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  rules: [{from: [{source: {principals: ["${TD}/ns/shop/sa/client"]}}]}]
`;

interface Fixture {
  agent: Bound;
  admin: string;
  options: AgentOptions;
  bound: Map<number, number>;
  ca: CaProcess;
  work: string;
}

let fx: Fixture;

test.before(async () => {
  setLogSink(() => undefined);
  const work = tempDir('mn-ctl-');
  const ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)]);
  writeFileSync(join(work, 'token'), NODE_TOKEN + '\n');
  writeFileSync(join(work, 'mesh.yaml'), MESH);
  writeFileSync(join(work, 'web.netns'), '');
  const any = { host: '127.0.0.1', port: 0 };
  const options: AgentOptions = {
    configPath: join(work, 'mesh.yaml'), node: 'n1', settings: { trustDomain: TD, rootNamespace: 'istio-system' },
    identity: {
      node: 'n1', caAddress: { host: '127.0.0.1', port: ca.port }, caRootFile: join(work, 'ca', 'root-cert.pem'),
      tokenFile: join(work, 'token'), clusterId: 'Kubernetes', certTtlMs: 3_600_000,
    },
    cniSocket: join(work, 'cni.sock'), stateDir: join(work, 'state'), admin: any, metrics: any, readiness: any,
    drainDeadlineMs: 1_000, readyRequiresCerts: true,
  };
  const bound = new Map<number, number>();
  const agent = await buildApp(options, { log: recordingLogger(), openNetns: (path) => loopbackNamespace(path, bound), processMetrics: false });
  const added = await registerPod(options.cniSocket, { uid: 'uid-web', namespace: 'shop', name: 'web-6d4cf56db6-x2k9p', netns: join(work, 'web.netns'), ips: ['10.77.0.1'] });
  if (added.status !== 200) throw new Error(`pod registration failed: ${added.body}`);
  // --ready-requires-certs: ready means the pod's certificate is in hand.
  await eventually(async () => {
    const ready = await httpGet(agent.addresses.readiness, '/healthz/ready');
    if (ready.status !== 200) throw new Error(ready.body);
  });
  fx = { agent, admin: `127.0.0.1:${agent.addresses.admin.port}`, options, bound, ca, work };
});

test.after.always(async () => {
  await fx?.agent.shutdown();
  await fx?.ca.stop();
  if (fx) removeDir(fx.work);
});

const ctl = (...args: string[]) => runMeshnode(['ctl', ...args, '--admin', fx.admin]);

/** An HBONE stream from client-0 (its own certificate, its own pod IP) to the web pod's echo server. */
async function openClientStream(t: import('ava').ExecutionContext) {
  const clientCerts = createCertManager({ ...fx.options.identity, node: 'n2', log: recordingLogger() });
  t.teardown(() => clientCerts.close());
  const cert = await clientCerts.fetch(id('client'), 10_000);
  const app = net.createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => app.close());
  const socket = net.connect({ host: '127.0.0.1', port: fx.bound.get(15008)! });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const conn = await HboneConnection.dial({ socket, peer: '127.0.0.1:15008', secureContext: secureContextFor(cert, cert.rootsPem), expectedIdentities: [id('web')] });
  t.teardown(() => conn.destroy());
  const stream = await conn.connect(`127.0.0.1:${(app.address() as net.AddressInfo).port}`, {});
  stream.on('error', () => undefined);
  const echoed = new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
  stream.write('hello, web');
  t.is(await echoed, 'hello, web');
  return stream;
}

test.serial('ctl status, workloads, services, policies and certificates print tables and the same data as JSON/YAML', async (t) => {
  const status = await ctl('status');
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /ready: +yes/);
  t.regex(status.stdout, /source: +yaml .*mesh\.yaml: synced/);
  t.regex(status.stdout, /certificates: 1\/1 available/);
  t.regex(status.stdout, /pods: +1 captured/);
  const statusJson = JSON.parse((await ctl('status', '-o', 'json')).stdout) as { ready: boolean; pods: { captured: number } };
  t.like(statusJson, { ready: true, pods: { captured: 1 } });

  const workloads = await ctl('workloads');
  t.is(workloads.code, 0, workloads.stderr);
  const [header, ...lines] = workloads.stdout.trimEnd().split('\n');
  t.regex(header!, /^NAMESPACE +NAME +ADDRESS +NODE +PROTOCOL +STATUS +CANONICAL +IDENTITY$/);
  t.is(lines.length, 2);
  t.regex(workloads.stdout, /shop +web-6d4cf56db6-x2k9p +10\.77\.0\.1 +n1 +HBONE +Healthy +web\/v2 +spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web/);
  const onN2 = JSON.parse((await ctl('workloads', '--node', 'n2', '-o', 'json')).stdout) as { name: string; canonicalService: string; canonicalRevision: string }[];
  t.deepEqual(onN2.map((w) => [w.name, w.canonicalService, w.canonicalRevision]), [['client-0', 'shopper', 'latest']]);
  const byController = JSON.parse((await ctl('workloads', '--workload', 'web', '-o', 'json')).stdout) as { workload: string }[];
  t.deepEqual(byController.map((w) => w.workload), ['web'], 'a Deployment pod is found by its controller name');
  t.is((await ctl('workloads', '-n', 'elsewhere')).stdout, 'No workloads found.\n');

  const services = await ctl('services');
  t.regex(services.stdout, /shop +web +web\.shop\.svc\.cluster\.local +10\.96\.0\.10 +80->http\/TCP +1/);
  const policies = await ctl('policies', '-o', 'yaml');
  const policyRows = parseYaml(policies.stdout) as { name: string; action: string; origin: string }[];
  t.true(policyRows.some((p) => p.name === 'allow-client' && p.action === 'Allow' && p.origin === 'AuthorizationPolicy'), policies.stdout);
  t.regex((await ctl('policies')).stdout, /^NAMESPACE +NAME +SCOPE +ACTION +RULES +ORIGIN\n/);

  const certs = await ctl('certificates');
  t.regex(certs.stdout, /spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web +available +[0-9A-F]+ +\d{4}-/);
  const certsJson = JSON.parse((await ctl('certificates', '-o', 'json')).stdout) as { identity: string; state: string }[];
  t.deepEqual(certsJson.map((c) => [c.identity, c.state]), [[id('web'), 'available']]);
});

test.serial('ctl tls-check and authz check --admin answer from the live policies; --exit-code fails on deny', async (t) => {
  const check = await ctl('tls-check', 'shop/client-0', 'shop/web-6d4cf56db6-x2k9p');
  t.is(check.code, 0, check.stderr);
  t.regex(check.stdout, /destination: shop\/web-6d4cf56db6-x2k9p:8080/);
  t.regex(check.stdout, /mTLS: +yes/);
  t.regex(check.stdout, /decision: +allow\npolicy: +shop\/allow-client/);
  const json = JSON.parse((await ctl('tls-check', 'shop/client-0', 'shop/web-6d4cf56db6-x2k9p', '--port', '9090', '-o', 'json')).stdout) as Record<string, unknown>;
  t.like(json, { mtls: true, connectionSecurityPolicy: 'mutual_tls', decision: 'allow', destination: { port: 9090 } });
  const unknown = await ctl('tls-check', 'shop/client-0', 'shop/nobody');
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /answered 400 to \/tls-check: dst: no Pod or WorkloadEntry shop\/nobody/);
  t.is((await ctl('tls-check', 'shop/client-0')).code, 2, 'a missing DST is a usage error');

  const base = ['authz', 'check', '--admin', fx.admin, '--to', 'shop/web-6d4cf56db6-x2k9p', '--port', '8080', '--from-ip', CLIENT_IP, '--exit-code'];
  const allowed = await runMeshnode([...base, '--from-identity', id('client'), '-o', 'json']);
  t.is(allowed.code, 0, allowed.stderr);
  t.like(JSON.parse(allowed.stdout), { decision: 'allow', policy: 'shop/allow-client' });
  const plaintext = await runMeshnode([...base, '--plaintext']);
  t.is(plaintext.code, 1, 'deny with --exit-code');
  t.regex(plaintext.stdout, /decision: deny/);
  const down = await runMeshnode([...base.slice(0, 3), '127.0.0.1:1', ...base.slice(4), '--plaintext']);
  t.is(down.code, 2);
  t.regex(down.stderr, /cannot reach the admin API at 127\.0\.0\.1:1: connection refused/);
});

test.serial('ctl log shows and sets per-component levels at run time', async (t) => {
  const set = await ctl('log', '--level', 'proxy=debug', '--level', 'access=warn', '-o', 'json');
  t.is(set.code, 0, set.stderr);
  const levels = JSON.parse(set.stdout) as { level: string; directives: Record<string, string>; components: Record<string, string> };
  t.deepEqual(levels.directives, { access: 'warn', proxy: 'debug' });
  t.is(levels.components.access, 'warn');
  const table = await ctl('log');
  t.regex(table.stdout, /^default level: info\nsettings: access=warn, proxy=debug\n\nCOMPONENT +LEVEL\n/);
  t.is((await ctl('log', '--level', 'proxy=loud')).code, 2);
  const reset = JSON.parse((await ctl('log', '--reset', '-o', 'json')).stdout) as { directives: Record<string, string> };
  t.deepEqual(reset.directives, {});
});

test.serial('ctl connections lists an open HBONE connection with its parties, bytes and age until it closes', async (t) => {
  const stream = await openClientStream(t);
  const rows = await eventually(async () => {
    const list = JSON.parse((await ctl('connections', '-o', 'json')).stdout) as Record<string, unknown>[];
    if (list.length !== 1) throw new Error(`connections: ${JSON.stringify(list)}`);
    return list;
  });
  t.like(rows[0], { target: 'pod shop/web-6d4cf56db6-x2k9p', direction: 'inbound', 'src.identity': id('client'), 'dst.workload': 'web', 'dst.namespace': 'shop', bytes_recv: 10, bytes_sent: 10 });
  const table = await ctl('connections', '--workload', 'web');
  t.regex(table.stdout, /shop\/web-6d4cf56db6-x2k9p +inbound +127\.0\.0\.1:\d+ +spiffe:\/\/cluster\.local\/ns\/shop\/sa\/client +shop\/web +spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web +10 +10 +\d+s/);
  t.is((await ctl('connections', '-n', 'elsewhere')).stdout, 'No open connections.\n');

  stream.end();
  await eventually(async () => {
    if ((await ctl('connections', '-o', 'json')).stdout.trim() !== '[]') throw new Error('still listed');
  });
});

const promtool = missingTools(['promtool']).length === 0;
(promtool ? test.serial : test.skip)(`promtool check metrics accepts the live agent's exposition after traffic${promtool ? '' : ' [skipped: promtool not installed]'}`, async (t) => {
  const text = (await httpGet(fx.agent.addresses.metrics, '/metrics')).body;
  t.regex(text, /istio_build\{component="ztunnel",tag="\d+\.\d+\.\d+[^"]*"\} 1/);
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.is(check.status, 0, check.stdout + check.stderr);
});

test.serial('with --ready-requires-certs and no reachable CA, readiness says which certificate it waits for, and ctl status exits 3', async (t) => {
  const work = tempDir('mn-ctl-nocert-');
  t.teardown(() => removeDir(work));
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
  writeFileSync(join(work, 'mesh.yaml'), MESH);
  const any = { host: '127.0.0.1', port: 0 };
  const { xds: _xds, kube: _kube, ...core } = fx.options;
  const agent = await buildApp({
    ...core, configPath: join(work, 'mesh.yaml'), cniSocket: join(work, 'cni.sock'), stateDir: join(work, 'state'),
    identity: { ...fx.options.identity, caAddress: { host: '127.0.0.1', port: closedPort } }, admin: any, metrics: any, readiness: any,
  }, { log: recordingLogger(), openNetns: (path) => loopbackNamespace(path, new Map()), processMetrics: false });
  t.teardown(() => agent.shutdown());
  const ready = await httpGet(agent.addresses.readiness, '/healthz/ready');
  t.is(ready.status, 500);
  t.regex(ready.body, /^not ready, failing: all certificates: waiting for 1 certificate: spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web \((initializing|unavailable)\)/);
  const status = await runMeshnode(['ctl', 'status', '--admin', `127.0.0.1:${agent.addresses.admin.port}`]);
  t.is(status.code, 3, status.stderr);
  t.regex(status.stdout, /ready: +no\n +failing: +all certificates: waiting for 1 certificate/);
});
