import test from 'ava';
import { writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { buildApp, type AgentOptions } from '../../agent/app.js';
import { createCertManager } from '../../agent/identity/cert-manager.js';
import { asSpiffeId, type SpiffeId } from '../../agent/base/spiffe-id.js';
import { currentNetns } from '../../agent/net/index.js';
import { HboneConnection } from '../../agent/tunnel/hbone-connection.js';
import { TunnelError } from '../../agent/tunnel/errors.js';
import { secureContextFor } from '../../agent/tunnel/tls-config.js';
import { eventually } from '../helpers/eventually.js';
import { httpGet, loopbackNamespace, registerPod } from '../helpers/in-process-agent.js';
import { NODE_TOKEN, recordingLogger, removeDir, startCa, tempDir, writeTokens } from './ca-support.js';
import { denyFrom, shopMesh } from '../helpers/mesh-docs.js';

/**
 * The whole agent in this process, unprivileged: the real composition root with a real
 * `meshnode ca` over gRPC/TLS, the real YAML source, store, certificate manager, CNI API, pod
 * proxies, admin, metrics and readiness servers, every port 0. Only the network namespace is
 * replaced: a pod's "namespace" is this process's own, listeners on ephemeral loopback ports.
 */
const TD = 'cluster.local';
const id = (sa: string): SpiffeId => asSpiffeId(`spiffe://${TD}/ns/shop/sa/${sa}`)!;
/** The pod's address as the config lists it; in this stand-in its listeners are on loopback. */
const POD_IP = '10.77.0.1';
const LOCAL = '127.0.0.1';

const mesh = (extra = '') => shopMesh([
  { name: 'web-0', serviceAccount: 'web', ip: POD_IP, node: 'n1', uid: 'uid-web-0' },
  { name: 'client-0', serviceAccount: 'client', ip: '10.77.0.2', node: 'n2' },
], extra);

const DENY_CLIENT = denyFrom('client', TD);

test('the whole agent runs in-process: config, certificates from a real CA, a pod over the CNI API, HBONE in, a policy reload, drain', async (t) => {
  const work = tempDir('mn-inproc-');
  t.teardown(() => removeDir(work));
  const ca = await startCa(join(work, 'ca'), ['--tokens', writeTokens(work)]);
  t.teardown(() => ca.stop());
  const tokenFile = join(work, 'token');
  writeFileSync(tokenFile, NODE_TOKEN + '\n');
  const configPath = join(work, 'mesh.yaml');
  writeFileSync(configPath, mesh());
  const netnsFile = join(work, 'web-0.netns');
  writeFileSync(netnsFile, '');
  const bound = new Map<number, number>();
  const records: Record<string, unknown>[] = [];
  const any = { host: '127.0.0.1', port: 0 };
  const options: AgentOptions = {
    configPath, node: 'n1', settings: { trustDomain: TD, rootNamespace: 'istio-system' },
    identity: {
      node: 'n1', caAddress: { host: '127.0.0.1', port: ca.port }, caRootFile: join(work, 'ca', 'root-cert.pem'),
      tokenFile, clusterId: 'Kubernetes', certTtlMs: 3_600_000,
    },
    cniSocket: join(work, 'cni.sock'), stateDir: join(work, 'state'), admin: any, metrics: any, readiness: any, drainDeadlineMs: 2_000,
  };
  const agent = await buildApp(options, { log: recordingLogger(records), openNetns: (path) => loopbackNamespace(path, bound), processMetrics: false });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : agent.shutdown()));

  t.is((await httpGet(agent.addresses.readiness, '/healthz/ready')).status, 200);
  t.like(agent.state.counts, { workloads: 2, authorizations: 0, ambientNamespaces: 1 });

  // The pod arrives the way the CNI plugin registers it.
  const added = await registerPod(options.cniSocket, { uid: 'uid-web-0', namespace: 'shop', name: 'web-0', netns: netnsFile, ips: [POD_IP] });
  t.is(added.status, 200, added.body);
  t.truthy(bound.get(15008), 'the pod got its HBONE listener');

  // Its identity was requested from the real CA (held by the local workload and by the registered pod).
  await eventually(async () => {
    const certs = JSON.parse((await httpGet(agent.addresses.admin, '/certs')).body) as { identity: string; state: string }[];
    if (!certs.some((c) => c.identity === id('web') && c.state === 'available')) throw new Error(`no valid web certificate yet: ${JSON.stringify(certs)}`);
  });

  // A client on "another node" with its own certificate from the same CA.
  const clientCerts = createCertManager({ ...options.identity, node: 'n2', log: recordingLogger() });
  t.teardown(() => clientCerts.close());
  const clientCert = await clientCerts.fetch(id('client'), 10_000);
  const app = net.createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  t.teardown(() => app.close());
  const appPort = (app.address() as net.AddressInfo).port;
  // HBONE names the address the client dialed, which in this stand-in is loopback.
  const dial = async () => HboneConnection.dial({
    socket: await currentNetns().connect('127.0.0.1', bound.get(15008)!), peer: `${LOCAL}:15008`,
    secureContext: secureContextFor(clientCert, clientCert.rootsPem), expectedIdentities: [id('web')],
  });
  const conn = await dial();
  t.teardown(() => conn.destroy());
  const stream = await conn.connect(`${LOCAL}:${appPort}`, {});
  const echoed = new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
  stream.write('hello');
  t.is(await echoed, 'hello');
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  stream.on('error', () => undefined);

  // A DENY for the client arrives by an atomic file replace: the open connection is re-checked and closed.
  await writeFile(join(work, 'next.yaml'), mesh(DENY_CLIENT));
  await rename(join(work, 'next.yaml'), configPath);
  await eventually(() => { if (agent.state.counts.authorizations !== 1) throw new Error('policy not applied yet'); });
  await closed;
  const conn2 = await dial();
  t.teardown(() => conn2.destroy());
  const err = await t.throwsAsync(conn2.connect(`${LOCAL}:${appPort}`, {}));
  t.is((err as TunnelError).status, 401);

  const dump = JSON.parse((await httpGet(agent.addresses.admin, '/config_dump')).body) as {
    workloads: { uid: string }[]; sources: { name: string; state: string; origin: string }[];
  };
  t.deepEqual(dump.workloads.map((w) => w.uid), ['Kubernetes//Pod/shop/client-0', 'Kubernetes//Pod/shop/web-0']);
  t.like(dump.sources[0], { name: 'yaml', state: 'synced', origin: configPath });
  t.regex((await httpGet(agent.addresses.metrics, '/metrics')).body, /meshnode_config_reloads_total\{result="success"\} \d+/);

  await agent.shutdown();
  stopped = true;
  await t.throwsAsync(httpGet(agent.addresses.readiness, '/healthz/ready'), undefined, 'readiness is closed after the drain');
  t.true(records.some((r) => r.msg === 'agent stopped'));
});
