import type { ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { agentArgs, agentSocketOf, inNetns, startAgent, startCa, startSampleServer, type AgentSpec } from '../../agent/demo/control-plane.js';
import { Resources, startDaemon, waitFor, type Daemon } from '../../agent/demo/system.js';
import { createCniNode, type CniNode, type PlannedPod } from './cni-harness.js';

/**
 * A real `meshnode ca` and `meshnode agent` running inside a test node's netns, with a mesh config
 * listing the planned pods: "shop" is in the mesh, "legacy" is not, STRICT mTLS.
 */
export interface TestMesh {
  readonly agentSocket: string;
  /** meshnode-cni's own keys for the node's conflist. */
  readonly meshnode: Record<string, unknown>;
  agent: Daemon;
  restartAgent(): Promise<void>;
  /**
   * A rolling update's order: a second agent starts beside the running one (same socket, state and
   * ports) and is ready; `retire()` then sends the old one SIGTERM and resolves with its exit.
   */
  startNextAgent(): Promise<{ next: Daemon; retire: () => Promise<Daemon['exited']> }>;
  /** Runs the demo's sample app (`call`, `get`) inside a netns. */
  app(netnsName: string, args: string[]): Promise<string>;
  serve(pod: PlannedPod, port: number): Promise<Daemon>;
}

/** `ambient`: the namespaces labelled ambient (default shop); `mtls`: the mesh-wide mode. */
export interface MeshYamlOptions {
  readonly ambient?: readonly string[];
  readonly mtls?: 'STRICT' | 'PERMISSIVE';
}

export function meshYaml(pods: readonly PlannedPod[], node: string, opts: MeshYamlOptions = {}): string {
  const ambient = opts.ambient ?? ['shop'];
  const namespaces = [...new Set(['shop', 'legacy', ...pods.map((p) => p.namespace)])];
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
    ...namespaces.map((name) => ({
      apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(ambient.includes(name) ? { labels: { 'istio.io/dataplane-mode': 'ambient' } } : {}) },
    })),
    ...pods.map((p) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace, uid: p.uid, labels: { app: p.name } },
      spec: { serviceAccountName: p.name, nodeName: node }, status: { podIP: p.ip, podIPs: [{ ip: p.ip }] },
    })),
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: opts.mtls ?? 'STRICT' } } },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

export async function startTestMesh(t: ExecutionContext, node: CniNode, pods: readonly PlannedPod[], opts: MeshYamlOptions = {}): Promise<TestMesh> {
  const res = new Resources();
  t.teardown(() => res.releaseAll((what, err) => t.log(`cleanup: could not ${what}: ${err.message}`)));
  writeFileSync(`${node.dir}/mesh.yaml`, meshYaml(pods, 'node-1', opts));
  await startCa(res, { netns: node.name, dir: node.dir, listen: '127.0.0.1:15012', trustDomain: 'cluster.local' });
  const spec: AgentSpec = {
    netns: node.name, caDir: node.dir, caAddress: '127.0.0.1:15012', dir: node.dir, node: 'node-1',
    config: `${node.dir}/mesh.yaml`, trustDomain: 'cluster.local',
  };
  const mesh: TestMesh = {
    agentSocket: agentSocketOf(spec),
    meshnode: { agentSocket: agentSocketOf(spec) },
    agent: await startAgent(res, spec),
    async restartAgent() {
      const old = mesh.agent;
      const gone = new Promise((r) => old.child.once('exit', r));
      old.child.kill('SIGTERM');
      await gone;
      mesh.agent = await startAgent(res, spec);
    },
    async startNextAgent() {
      const old = mesh.agent;
      const logFile = `${node.dir}/agent-next.log`;
      const next = startDaemon(res, 'next agent', node.name, agentArgs(spec), logFile);
      // The readiness port answers for either agent; the new one's own log says when it is ready.
      await waitFor('the next agent to be ready', 30_000, () => {
        if (next.exited) throw new Error(`the next agent exited (${next.exited.code ?? next.exited.signal}):\n${next.log()}`);
        return next.log().includes('"agent ready"') ? true : undefined;
      });
      mesh.agent = next;
      const exited = new Promise<Daemon['exited']>((resolve) => old.child.once('exit', (code, signal) => resolve({ code, signal })));
      return { next, retire: () => { old.child.kill('SIGTERM'); return exited; } };
    },
    app: inNetns,
    serve: (pod, port) => startSampleServer(res, pod.netnsName, `${pod.namespace}/${pod.name}`, port, `${node.dir}/${pod.name}.log`),
  };
  return mesh;
}

/**
 * A node with one enrolled pod `web` (namespace shop), its agent stopped with SIGSTOP (resumed at
 * teardown), and the meshnode-cni ADD config for the pod: an ADD waits on an agent that never answers.
 */
export async function webPodWithStoppedAgent(t: ExecutionContext, agentTimeoutSeconds: number) {
  const node = createCniNode(t);
  const web = node.plan('web', 'shop');
  const mesh = await startTestMesh(t, node, [web]);
  await node.create(web);
  const pid = mesh.agent.child.pid!;
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } });
  const conf = { ...node.conflist(mesh.meshnode, web.ip).plugins[1], agentTimeoutSeconds, cniVersion: '1.0.0', name: 'mntest',
    prevResult: { cniVersion: '1.0.0', ips: [{ address: `${web.ip}/24` }] } };
  return { node, web, mesh, pid, conf };
}
