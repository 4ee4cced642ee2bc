import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, type AgentOptions } from '../../agent/app.js';
import { POD_API_PATHS } from '../../agent/base/contracts/pod-api.js';
import { eventually } from '../helpers/eventually.js';
import { httpGet, httpRequest, loopbackNamespace, registerPod } from '../helpers/in-process-agent.js';
import { startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.js';
import { ambientNamespace, podYaml } from '../helpers/kube-source.js';
import { kubeTest } from '../helpers/kube-test.js';
import { recordingLogger, removeDir, tempDir } from './ca-support.js';
import { startIstiodPeers } from './istiod-peers.js';

/**
 * Next to istiod, enrolment comes from the Kubernetes API as istio-cni's node agent does it: a
 * pod istiod has not announced yet is captured at CNI ADD because its namespace is ambient, the
 * captured pod gets the `ambient.istio.io/redirection: enabled` annotation istiod keys HBONE on,
 * and it loses it when released. Real kube-apiserver, real ADS server over TLS, real CA.
 */
const TD = 'cluster.local';
const LOCAL = '127.0.0.1';

async function annotation(kube: KubeCluster, ns: string, name: string): Promise<string> {
  const r = await kube.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'jsonpath={.metadata.annotations.ambient\\.istio\\.io/redirection}']);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout;
}

async function enrolled(socketPath: string, ns: string, name: string): Promise<boolean> {
  const r = await httpRequest({ socketPath, method: 'GET', path: `${POD_API_PATHS.enrollment}?namespace=${ns}&name=${name}` });
  return (JSON.parse(r.body) as { enrolled: boolean }).enrolled;
}

kubeTest('next to istiod: ambient namespaces come from the Kubernetes API, and captured pods get the redirection annotation until released', async (t) => {
  const kube = await startKubeCluster();
  t.teardown(() => kube.close());
  await kube.apply(`${ambientNamespace('shop')}---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: legacy}
---
${podYaml('shop', 'web-0', 'n1')}---
${podYaml('legacy', 'batch-0', 'n1')}`);

  const work = tempDir('mn-xds-kube-');
  t.teardown(() => removeDir(work));
  // istiod has announced nothing yet: it sends a pod only once it has an IP and the annotation.
  const peers = await startIstiodPeers(t, work, { impersonate: `spiffe://${TD}/ns/*/sa/*`, addresses: [] });

  const any = { host: LOCAL, port: 0 };
  const options: AgentOptions = {
    node: 'n1', settings: { trustDomain: TD, rootNamespace: 'istio-system' },
    xds: peers.xds('n1', '10.0.0.100'),
    kube: { kubeconfig: kube.kubeconfig },
    identity: peers.identity('n1'),
    cniSocket: join(work, 'cni.sock'), stateDir: join(work, 'state'), admin: any, metrics: any, readiness: any, drainDeadlineMs: 1_000,
  };
  const agent = await buildApp(options, { log: recordingLogger(), openNetns: (path) => loopbackNamespace(path, new Map()), processMetrics: false });
  t.teardown(() => agent.shutdown());
  t.is((await httpGet(agent.addresses.readiness, '/healthz/ready')).status, 200);

  t.true(await enrolled(options.cniSocket, 'shop', 'web-0'), 'an ambient namespace enrols a pod istiod has not announced');
  t.false(await enrolled(options.cniSocket, 'legacy', 'batch-0'));
  const netns = join(work, 'web-0.netns');
  writeFileSync(netns, '');
  const added = await registerPod(options.cniSocket, { uid: 'uid-web-0', namespace: 'shop', name: 'web-0', netns, ips: ['10.1.0.5'] });
  t.is(added.status, 200, added.body);
  await eventually(async () => assert.equal(await annotation(kube, 'shop', 'web-0'), 'enabled'));

  await kube.kubectl(['label', 'namespace', 'legacy', 'istio.io/dataplane-mode=ambient']);
  await eventually(async () => assert.equal(await enrolled(options.cniSocket, 'legacy', 'batch-0'), true));

  const removed = await httpRequest({ socketPath: options.cniSocket, method: 'DELETE', path: `${POD_API_PATHS.pods}/uid-web-0` });
  t.is(removed.status, 200, removed.body);
  await eventually(async () => assert.equal(await annotation(kube, 'shop', 'web-0'), ''));

  const dump = JSON.parse((await httpGet(agent.addresses.admin, '/config_dump')).body) as { sources: { name: string; state: string }[] };
  t.deepEqual(dump.sources.map((s) => `${s.name}:${s.state}`), ['xds:synced', 'kubernetes-enrolment:synced']);
});
