import type { ExecutionContext } from 'ava';
import net from 'node:net';
import { join } from 'node:path';
import { buildApp, type AgentOptions, type Bound } from '../../agent/app.js';
import { openNetns, type NetnsHandle } from '../../agent/net/index.js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE } from '../../agent/sources/xds/api.js';
import { applyInpodRules } from '../../agent/capture/apply.js';
import type { AdsResource, AdsServer } from '../helpers/ads-server.js';
import { eventually } from '../helpers/eventually.js';
import { httpGet, registerPod } from '../helpers/in-process-agent.js';
import { privilegedTest } from '../helpers/privileged.js';
import { Topology } from '../helpers/topology.js';
import { workloadResource } from '../helpers/xds-fixtures.js';
import { recordingLogger, removeDir, tempDir } from '../integration/ca-support.js';
import { startIstiodPeers } from '../integration/istiod-peers.js';

/**
 * Two whole agents, one per netns node, whose only mesh source is istiod's protocol: an ADS
 * server of our own over TLS pushes the workloads, the real `meshnode ca` issues the
 * certificates, and pods are real network namespaces with the in-pod redirection rules. Pod `a`
 * (node n1) calls pod `c` (node n2), which istiod announces only after both agents are serving.
 */
const TD = 'cluster.local';
const LOCAL = '127.0.0.1';

interface XdsMesh {
  readonly topo: Topology;
  readonly ads: AdsServer;
  readonly agents: Map<string, Bound>;
  /** CNI ADD as meshnode-cni does it: the pod's rules, then its registration with its node's agent. */
  enrol(pod: string): Promise<void>;
  netns(pod: string): NetnsHandle;
}

function announce(topo: Topology, pod: string): AdsResource {
  const p = topo.pod(pod);
  return workloadResource(pod, p.ip, { node: p.node, serviceAccount: pod });
}

async function startXdsMesh(t: ExecutionContext): Promise<XdsMesh> {
  const topo = Topology.build({ nodes: { n1: ['a'], n2: ['b', 'c'] } });
  t.teardown(() => topo.destroy());
  const work = tempDir('mn-xds-mesh-');
  t.teardown(() => removeDir(work));
  const peers = await startIstiodPeers(t, work, { impersonate: `spiffe://${TD}/ns/default/sa/*`, addresses: [announce(topo, 'a'), announce(topo, 'b')] });
  const { ads } = peers;

  const agents = new Map<string, Bound>();
  const any = { host: LOCAL, port: 0 };
  for (const node of ['n1', 'n2']) {
    const options: AgentOptions = {
      node, settings: { trustDomain: TD, rootNamespace: 'istio-system' },
      xds: peers.xds(node, topo.node(node).linkAddress),
      identity: peers.identity(node),
      cniSocket: join(work, `${node}.sock`), stateDir: join(work, `${node}-state`), admin: any, metrics: any, readiness: any, drainDeadlineMs: 1_000,
    };
    const agent = await buildApp(options, { log: recordingLogger([], node), processMetrics: false });
    t.teardown(() => agent.shutdown());
    agents.set(node, agent);
  }

  const handles: NetnsHandle[] = [];
  t.teardown(() => { for (const h of handles) h.close(); });
  const netns = (pod: string) => {
    const h = openNetns(topo.pod(pod).path);
    handles.push(h);
    return h;
  };
  return {
    topo, ads, agents, netns,
    async enrol(pod) {
      const p = topo.pod(pod);
      await applyInpodRules(p.path, { ipv6: false });
      const added = await registerPod(join(work, `${p.node}.sock`), { uid: `uid-${pod}`, namespace: 'default', name: pod, netns: p.path, ips: [p.ip] });
      if (added.status !== 200) throw new Error(`CNI ADD of ${pod} failed: ${added.status} ${added.body}`);
    },
  };
}

/** One request/response over a captured connection; resolves with what the echo returned. */
function roundTrip(sock: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    sock.once('data', (d: Buffer) => resolve(d.toString()));
    sock.once('error', reject);
    sock.write(text);
  });
}

privilegedTest('xDS between two netns nodes: a pod istiod announces later is captured and carries mTLS traffic; a DENY on its peer closes it', async (t) => {
  const mesh = await startXdsMesh(t);
  for (const agent of mesh.agents.values()) t.is((await httpGet(agent.addresses.readiness, '/healthz/ready')).status, 200);
  await mesh.enrol('a');
  await mesh.enrol('b');

  // istiod learns about pod c only now; its node's agent gets the push and its CNI ADD.
  mesh.ads.push(ADDRESS_TYPE, [announce(mesh.topo, 'c')]);
  const c = mesh.topo.pod('c');
  await eventually(() => {
    for (const [node, agent] of mesh.agents) {
      if (!agent.state.workloadByUid('Kubernetes//Pod/default/c')) throw new Error(`${node} has not applied pod c yet`);
    }
  });
  await mesh.enrol('c');

  const accepted: net.Socket[] = [];
  const app = net.createServer((s) => { accepted.push(s); s.on('error', () => undefined); s.pipe(s); });
  await mesh.netns('c').listen(8080, { server: app });
  t.teardown(() => { app.close(); for (const s of accepted) s.destroy(); });

  // Unmarked, so pod a's rules capture it: a's agent → HBONE to c:15008 → c's agent → the app.
  const client = await mesh.netns('a').connect(c.ip, 8080, { mark: 0 });
  t.teardown(() => client.destroy());
  t.is(await roundTrip(client, 'hello c'), 'hello c');
  t.is(accepted.length, 1);
  t.is(accepted[0]!.remoteAddress?.replace(/^::ffff:/, ''), mesh.topo.pod('a').ip, 'the inbound agent connects to the app from the client pod\'s own address');

  // A DENY that matches only a's authenticated identity: it can close the connection only if the
  // traffic reached c's agent over mTLS as a (a plaintext connection carries no principal).
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  mesh.ads.push(AUTHORIZATION_TYPE, [{
    name: 'default/deny-a', version: '',
    resource: {
      '@type': AUTHORIZATION_TYPE, name: 'deny-a', namespace: 'default', scope: 'NAMESPACE', action: 'DENY',
      groups: [{ rules: [{ matches: [{ principals: [{ exact: `${TD}/ns/default/sa/a` }] }] }] }],
    },
  }]);
  await closed;
  const refused = await mesh.netns('a').connect(c.ip, 8080, { mark: 0 });
  t.teardown(() => refused.destroy());
  const outcome = await new Promise<string>((resolve) => {
    refused.once('data', (d: Buffer) => resolve(`data ${d.toString()}`));
    refused.once('close', () => resolve('closed'));
    refused.on('error', () => undefined);
    refused.write('again');
  });
  t.is(outcome, 'closed', 'a new connection from a is refused');
  t.is(accepted.length, 1, 'the refused connection never reached the app');
}, ['ip', 'iptables']);
