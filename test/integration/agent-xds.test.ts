import test from 'ava';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { buildApp, type AgentOptions } from '../../agent/app.js';
import { createCertManager } from '../../agent/identity/index.js';
import { asSpiffeId, type SpiffeId } from '../../agent/base/spiffe-id.js';
import { currentNetns } from '../../agent/net/index.js';
import { AUTHORIZATION_TYPE } from '../../agent/sources/xds/api.js';
import { HboneConnection, secureContextFor, type TunnelError } from '../../agent/tunnel/index.js';
import { eventually } from '../helpers/eventually.js';
import { httpGet, loopbackNamespace, registerPod } from '../helpers/in-process-agent.js';
import { denyAllResource, workloadResource } from '../helpers/xds-fixtures.js';
import { NODE_TOKEN, recordingLogger, removeDir, tempDir } from './ca-support.js';
import { startIstiodPeers } from './istiod-peers.js';

/**
 * The whole agent in-process with istiod's protocol as its only mesh source: an ADS server of
 * our own over TLS pushes the workloads, the real CA issues the certificates, and a DENY pushed
 * while a connection is open closes it and refuses the next one.
 */
const TD = 'cluster.local';
const id = (sa: string): SpiffeId => asSpiffeId(`spiffe://${TD}/ns/default/sa/${sa}`)!;
const LOCAL = '127.0.0.1';

test('over xDS: pushed workloads get certificates and HBONE traffic; a pushed DENY closes the open connection', async (t) => {
  const work = tempDir('mn-xds-agent-');
  t.teardown(() => removeDir(work));
  const peers = await startIstiodPeers(t, work, { impersonate: `spiffe://${TD}/ns/default/sa/*`, addresses: [workloadResource('web-0', '10.77.0.1', { node: 'n1' })] });
  const { ads } = peers;

  const netnsFile = join(work, 'web-0.netns');
  writeFileSync(netnsFile, '');
  const bound = new Map<number, number>();
  const any = { host: LOCAL, port: 0 };
  const options: AgentOptions = {
    node: 'n1', settings: { trustDomain: TD, rootNamespace: 'istio-system' },
    xds: peers.xds('n1', '10.0.0.100'),
    identity: peers.identity('n1'),
    cniSocket: join(work, 'cni.sock'), stateDir: join(work, 'state'), admin: any, metrics: any, readiness: any, drainDeadlineMs: 1_000,
  };
  const records: Record<string, unknown>[] = [];
  const agent = await buildApp(options, { log: recordingLogger(records), openNetns: (path) => loopbackNamespace(path, bound), processMetrics: false });
  t.teardown(() => agent.shutdown());
  t.is((await httpGet(agent.addresses.readiness, '/healthz/ready')).status, 200);
  t.is(agent.state.workloadByUid('Kubernetes//Pod/default/web-0')?.node, 'n1', 'the uid is istiod\'s, applied as sent');

  const added = await registerPod(options.cniSocket, { uid: 'uid-web-0', namespace: 'default', name: 'web-0', netns: netnsFile, ips: ['10.77.0.1'] });
  t.is(added.status, 200, added.body);

  const clientCerts = createCertManager({ ...options.identity, node: 'n2', log: recordingLogger() });
  t.teardown(() => clientCerts.close());
  const clientCert = await clientCerts.fetch(id('client'), 10_000);
  const app = net.createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
  await new Promise<void>((r) => app.listen(0, LOCAL, r));
  t.teardown(() => app.close());
  const appPort = (app.address() as net.AddressInfo).port;
  const dial = async () => HboneConnection.dial({
    socket: await currentNetns().connect(LOCAL, bound.get(15008)!), peer: `${LOCAL}:15008`,
    secureContext: secureContextFor(clientCert, clientCert.rootsPem), expectedIdentities: [id('web')],
  });
  const conn = await dial();
  t.teardown(() => conn.destroy());
  // The first CONNECT waits for the pod's certificate from the CA.
  const stream = await conn.connect(`${LOCAL}:${appPort}`, {});
  stream.on('error', () => undefined);
  const echoed = new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
  stream.write('hello');
  t.is(await echoed, 'hello');
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));

  ads.push(AUTHORIZATION_TYPE, [denyAllResource('default', 'deny-all')]);
  await eventually(() => { if (!agent.state.authorization('default/deny-all')) throw new Error('the DENY is not applied yet'); });
  await closed;
  const conn2 = await dial();
  t.teardown(() => conn2.destroy());
  const err = await t.throwsAsync(conn2.connect(`${LOCAL}:${appPort}`, {}));
  t.is((err as TunnelError).status, 401);

  const dump = JSON.parse((await httpGet(agent.addresses.admin, '/config_dump')).body) as { sources: { name: string; state: string }[] };
  t.like(dump.sources[0], { state: 'synced' });
  t.false(JSON.stringify(records).includes(NODE_TOKEN), 'the token never reaches a log line');
});
