import type { ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { AgentClient } from '../../cni/agent-client.js';
import { checkInpodRules } from '../../agent/capture/index.js';
import net from 'node:net';
import { inNetns, startAgent, startCa, startSampleServer, type AgentSpec } from '../../agent/demo/control-plane.js';
import { Resources, waitFor } from '../../agent/demo/system.js';
import { eventually } from '../helpers/eventually.js';
import { openNetns } from '../../agent/net/index.js';
import { startKubeCluster, type KubeCluster } from '../helpers/kube-cluster.js';
import { ambientNamespace, podYaml } from '../helpers/kube-source.js';
import { kubeTest } from '../helpers/kube-test.js';
import { CNI_TOOLS, createCniNode, type CniNode, type PlannedPod } from './cni-harness.js';

/**
 * `meshnode agent --kube` on a real netns node against a real API server, with the real CNI
 * chain (bridge, static IPAM, meshnode-cni) and the real CA: the API is the only mesh config.
 */

interface CallResult { connected: boolean; reply: string; ended: string }

/**
 * The API server listens on the host's loopback; the agent runs in the node's netns. A forwarder
 * listening on the same port on the node's loopback lets the admin kubeconfig work unchanged there.
 */
async function forwardApiIntoNode(t: ExecutionContext, kube: KubeCluster, node: CniNode): Promise<void> {
  const port = Number(new URL(kube.server).port);
  const netns = openNetns(`/var/run/netns/${node.name}`);
  const sockets: net.Socket[] = [];
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    sockets.push(down, up);
    for (const s of [down, up]) s.on('error', () => { down.destroy(); up.destroy(); });
    down.pipe(up);
    up.pipe(down);
  });
  await netns.listen(port, { host: '127.0.0.1', server });
  t.teardown(() => { server.close(); for (const s of sockets) s.destroy(); netns.close(); });
}

interface KubeMesh {
  readonly kube: KubeCluster;
  readonly node: CniNode;
  readonly meshnode: Record<string, unknown>;
  readonly log: () => string;
  /** Creates the pod in the API, runs the CNI ADD for it, then reports its IP as a kubelet would. */
  addPod(pod: PlannedPod): Promise<void>;
  serve(pod: PlannedPod, port: number): Promise<void>;
  call(from: PlannedPod, to: PlannedPod): Promise<CallResult>;
}

async function startKubeMesh(t: ExecutionContext): Promise<KubeMesh> {
  const kube = await startKubeCluster();
  t.teardown(() => kube.close());
  const node = createCniNode(t);
  await forwardApiIntoNode(t, kube, node);
  await kube.apply(`apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
${ambientNamespace('shop', 'server')}---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`);
  const res = new Resources();
  t.teardown(() => res.releaseAll((what, err) => t.log(`cleanup: could not ${what}: ${err.message}`)));
  await startCa(res, { netns: node.name, dir: node.dir, listen: '127.0.0.1:15012', trustDomain: 'cluster.local' });
  const spec: AgentSpec = {
    netns: node.name, caDir: node.dir, caAddress: '127.0.0.1:15012', dir: node.dir, node: 'node-1',
    config: { kubeconfig: kube.kubeconfig }, trustDomain: 'cluster.local',
  };
  await startAgent(res, spec);
  const meshnode = { agentSocket: `${node.dir}/cni.sock` };
  return {
    kube, node, meshnode,
    log: () => readFileSync(`${node.dir}/agent.log`, 'utf8').slice(-4000),
    async addPod(pod) {
      await kube.apply(podYaml(pod.namespace, pod.name, 'node-1', { sa: pod.name }));
      await node.addPod(pod, meshnode);
      await kube.setPodStatus(pod.namespace, pod.name, { podIP: pod.ip });
    },
    async serve(pod, port) {
      await startSampleServer(res, pod.netnsName, `shop/${pod.name}`, port, `${node.dir}/${pod.name}.log`);
    },
    call: async (from, to) => JSON.parse(await inNetns(from.netnsName, ['call', `${to.ip}:8080`, '--timeout', '3000'])) as CallResult,
  };
}

const TOOLS = [...CNI_TOOLS, '/usr/lib/cni/static'];

kubeTest('kube agent: a pod created after the agent started is captured and carries traffic both ways', async (t) => {
  const mesh = await startKubeMesh(t);
  const server = mesh.node.plan('server', 'shop');
  await mesh.addPod(server);
  await mesh.serve(server, 8080);
  const web = mesh.node.plan('web', 'shop');
  await mesh.addPod(web);
  await mesh.serve(web, 8080);
  await waitFor('traffic from the new pod', 30_000, async () => {
    const out = await mesh.call(web, server);
    return out.reply.startsWith('hello from shop/server') ? true : undefined;
  }).catch((err: Error) => { throw new Error(`${err.message}\n${mesh.log()}`); });
  const back = await mesh.call(server, web);
  t.true(back.reply.startsWith('hello from shop/web'), JSON.stringify(back));
  // Carried by the mesh: the inbound side saw an HBONE stream with web's certificate identity.
  const inbound = readFileSync(`${mesh.node.dir}/agent.log`, 'utf8').split('\n')
    .filter((l) => l.includes('"direction":"inbound"') && l.includes(`"dst.hbone_addr":"${server.ip}:8080"`));
  t.true(inbound.some((l) => l.includes('"src.identity":"spiffe://cluster.local/ns/shop/sa/web"')), inbound.join('\n'));
  t.regex(readFileSync(`${mesh.node.dir}/agent.log`, 'utf8'), /"msg":"kube: initial state applied"/);
  const dump = JSON.parse(await inNetns(mesh.node.name, ['get', 'http://127.0.0.1:15000/config_dump'])) as {
    sources: { name: string; state: string; kube: { server: string; resources: Record<string, { state: string; objects: number }> } }[];
  };
  t.like(dump.sources[0], { name: 'kubernetes', state: 'synced', kube: { server: mesh.kube.server } });
  t.like(dump.sources[0]?.kube.resources.pods, { state: 'watching', objects: 2 });
}, { root: true, tools: TOOLS });

kubeTest('kube agent: an AuthorizationPolicy created in the API closes the open connection it denies and refuses new ones', async (t) => {
  const mesh = await startKubeMesh(t);
  const [server, web] = [mesh.node.plan('server', 'shop'), mesh.node.plan('web', 'shop')];
  await mesh.addPod(server);
  await mesh.serve(server, 8080);
  await mesh.addPod(web);
  await waitFor('traffic from web', 30_000, async () => ((await mesh.call(web, server)).reply.startsWith('hello from') ? true : undefined))
    .catch((err: Error) => { throw new Error(`${err.message}\n${mesh.log()}`); });

  // An application socket in web's netns, unmarked: its rules capture it like any app connection.
  const webNetns = openNetns(web.netns);
  t.teardown(() => webNetns.close());
  const open = await webNetns.connect(server.ip, 8080, { mark: 0 });
  t.teardown(() => open.destroy());
  // The agent closes it with a reset; that is the point, not an error of the test.
  open.on('error', () => {});
  const greeting = await new Promise<string>((resolve) => open.once('data', (d: Buffer) => resolve(d.toString())));
  t.regex(greeting, /^hello from shop\/server/);
  const closed = new Promise<void>((resolve) => open.once('close', () => resolve()));

  await mesh.kube.apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-web, namespace: shop}
spec:
  selector: {matchLabels: {app: server}}
  action: DENY
  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/web]}}]}]
`);
  await waitFor('the open connection to be closed', 20_000, async () => (open.destroyed || open.closed ? true : undefined))
    .catch((err: Error) => { throw new Error(`${err.message}\n${mesh.log()}`); });
  await closed;
  const after = await mesh.call(web, server);
  t.false(after.reply.startsWith('hello from'), `a new connection must be refused: ${JSON.stringify(after)}`);
}, { root: true, tools: TOOLS });

kubeTest('kube agent: labelling a namespace ambient in the API captures its running pod, un-labelling releases it, no restart', async (t) => {
  const mesh = await startKubeMesh(t);
  await mesh.kube.apply('apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: client, namespace: web}\n');
  const [server, client] = [mesh.node.plan('server', 'shop'), mesh.node.plan('client', 'web')];
  await mesh.addPod(server);
  await mesh.serve(server, 8080);
  await mesh.addPod(client);
  const agent = new AgentClient(`${mesh.node.dir}/cni.sock`, 5000);
  t.is(await agent.registration(client.uid), undefined, 'the client starts outside the mesh');
  const fail = (err: Error) => { throw new Error(`${err.message}\n${mesh.log()}`); };

  await mesh.kube.kubectl(['label', 'namespace', 'web', 'istio.io/dataplane-mode=ambient']);
  await eventually(async () => {
    if (!(await agent.registration(client.uid))) throw new Error('client not captured yet');
    const missing = await checkInpodRules(client.netns, { ipv6: false });
    if (missing.length > 0) throw new Error(missing.join('; '));
  }, 20_000).catch(fail);
  // Carried by the mesh now: the server's side sees the client's certificate identity.
  await waitFor('a tunnelled call from the captured client', 30_000, async () => {
    const out = await mesh.call(client, server);
    const inbound = readFileSync(`${mesh.node.dir}/agent.log`, 'utf8').split('\n')
      .filter((l) => l.includes('"direction":"inbound"') && l.includes('"src.identity":"spiffe://cluster.local/ns/web/sa/client"'));
    return out.reply.startsWith('hello from shop/server') && inbound.length > 0 ? true : undefined;
  }).catch(fail);

  await mesh.kube.kubectl(['label', 'namespace', 'web', 'istio.io/dataplane-mode-']);
  await eventually(async () => {
    if (await agent.registration(client.uid)) throw new Error('client still captured');
    if ((await checkInpodRules(client.netns, { ipv6: false })).length === 0) throw new Error('client rules still installed');
  }, 20_000).catch(fail);
}, { root: true, tools: TOOLS });
