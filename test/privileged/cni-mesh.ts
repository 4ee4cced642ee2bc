import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { SAMPLE_APP } from '../../agent/demo/control-plane.js';
import { Resources, exec, startDaemon, waitFor, type Daemon } from '../../agent/demo/system.js';
import { meshnodeBin } from '../helpers/paths.js';
import type { CniNode, PlannedPod } from './cni-harness.js';

/**
 * A real `meshnode ca` and `meshnode agent` running inside a test node's netns, with a mesh config
 * listing the planned pods: "shop" is in the mesh, "legacy" is not, STRICT mTLS.
 */
export interface TestMesh {
  readonly agentSocket: string;
  readonly meshnode: Record<string, unknown>;
  agent: Daemon;
  restartAgent(): Promise<void>;
  /** Runs the demo's sample app (`call`, `get`, `serve`) inside a netns. */
  app(netnsName: string, args: string[]): Promise<string>;
  serve(pod: PlannedPod, port: number): Promise<Daemon>;
}

function meshYaml(pods: readonly PlannedPod[], node: string): string {
  const docs: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'legacy' } },
    ...pods.map((p) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace, uid: p.uid, labels: { app: p.name } },
      spec: { serviceAccountName: p.name, nodeName: node }, status: { podIP: p.ip, podIPs: [{ ip: p.ip }] },
    })),
    { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } },
  ];
  return docs.map((d) => stringify(d)).join('---\n');
}

export async function startTestMesh(t: ExecutionContext, node: CniNode, pods: readonly PlannedPod[]): Promise<TestMesh> {
  const res = new Resources();
  t.teardown(() => res.releaseAll((what, err) => t.log(`cleanup: could not ${what}: ${err.message}`)));
  const dir = node.dir;
  mkdirSync(`${dir}/ca`, { recursive: true });
  const token = randomBytes(16).toString('hex');
  writeFileSync(`${dir}/token`, token);
  writeFileSync(`${dir}/tokens.yaml`, stringify([{ token, identity: 'spiffe://cluster.local/ns/meshnode-system/sa/agent', impersonate: ['spiffe://cluster.local/ns/*/sa/*'] }]));
  writeFileSync(`${dir}/mesh.yaml`, meshYaml(pods, 'node-1'));
  const ca = startDaemon(res, 'ca', node.name, [process.execPath, meshnodeBin, 'ca', '--dir', `${dir}/ca`, '--listen', '127.0.0.1:15012', '--tokens', `${dir}/tokens.yaml`, '--hostname', '127.0.0.1'], `${dir}/ca.log`);
  await waitFor('the CA', 20_000, () => {
    if (ca.exited) throw new Error(`ca exited: ${ca.log()}`);
    return existsSync(`${dir}/ca/root-cert.pem`) && ca.log().includes('"listening"') ? true : undefined;
  });
  const agentSocket = `${dir}/cni.sock`;
  const app = (netnsName: string, args: string[]) => exec('ip', ['netns', 'exec', netnsName, process.execPath, SAMPLE_APP, ...args]);
  const start = async (): Promise<Daemon> => {
    const d = startDaemon(res, 'agent', node.name, [process.execPath, meshnodeBin, 'agent', '--config', `${dir}/mesh.yaml`, '--node', 'node-1',
      '--ca-address', '127.0.0.1:15012', '--ca-root', `${dir}/ca/root-cert.pem`, '--ca-token-file', `${dir}/token`,
      '--cni-socket', agentSocket, '--state-dir', `${dir}/state`], `${dir}/agent.log`);
    await waitFor('the agent to be ready', 30_000, () => {
      if (d.exited) throw new Error(`agent exited: ${d.log()}`);
      return app(node.name, ['get', 'http://127.0.0.1:15021/healthz/ready']).then(() => true, () => undefined);
    });
    return d;
  };
  const mesh: TestMesh = {
    agentSocket,
    meshnode: { agentSocket },
    agent: await start(),
    async restartAgent() {
      const old = mesh.agent;
      const gone = new Promise((r) => old.child.once('exit', r));
      old.child.kill('SIGTERM');
      await gone;
      mesh.agent = await start();
    },
    app,
    async serve(pod, port) {
      const d = startDaemon(res, `server in ${pod.name}`, pod.netnsName, [process.execPath, SAMPLE_APP, 'serve', '--name', `${pod.namespace}/${pod.name}`, '--port', String(port)], `${dir}/${pod.name}.log`);
      await waitFor('the sample server', 10_000, () => (d.log().includes('"listening"') ? true : undefined));
      return d;
    },
  };
  return mesh;
}
