import { execPlugin, podEnv } from '../../agent/demo/cni-chain.js';
import { privilegedTest } from '../helpers/privileged.js';
import { CNI_TOOLS, createCniNode, type CniNode, type PlannedPod } from './cni-harness.js';
import { startTestMesh } from './cni-mesh.js';

const TOOLS = [...CNI_TOOLS, '/usr/lib/cni/static'];

interface Result { cniVersion: string; ips: { version?: string; address: string }[]; interfaces: unknown[] }

/** The real bridge plugin's result for `pod`, in the given spec version's shape. */
async function bridgeResult(node: CniNode, pod: PlannedPod, meshnode: Record<string, unknown>, cniVersion: string): Promise<Result> {
  const list = node.conflist(meshnode, pod.ip);
  const run = await execPlugin('bridge', podEnv('ADD', pod, node.opts), { ...list.plugins[0], cniVersion, name: list.name }, node.opts);
  if (run.code !== 0) throw new Error(`bridge ADD failed: ${run.stdout}`);
  return JSON.parse(run.stdout) as Result;
}

privilegedTest('meshnode-cni prints prevResult in the configured cniVersion\'s shape: a 0.3.1 result becomes a valid 1.0.0 one and back', async (t) => {
  const node = createCniNode(t);
  const [web, batch] = [node.plan('web', 'shop'), node.plan('batch', 'legacy')];
  const mesh = await startTestMesh(t, node, [web, batch]);
  const meshnode = node.conflist(mesh.meshnode).plugins[1]!;
  const add = async (pod: PlannedPod, cniVersion: string, prevResult: Result) => {
    const run = await execPlugin('meshnode-cni', podEnv('ADD', pod, node.opts), { ...meshnode, cniVersion, name: 'mntest', prevResult }, node.opts);
    t.is(run.code, 0, run.stdout);
    return JSON.parse(run.stdout) as Result;
  };

  // Enrolled pod, 1.0.0 config, handed a 0.3.1 result: 1.0.0 has no ips[].version.
  await node.create(web);
  const old = await bridgeResult(node, web, mesh.meshnode, '0.3.1');
  t.is(old.ips[0]!.version, '4', 'the bridge plugin produced the 0.3.1 shape');
  t.deepEqual(await add(web, '1.0.0', old), { ...old, cniVersion: '1.0.0', ips: old.ips.map(({ version: _, ...ip }) => ip) });

  // Pod outside the mesh, 0.3.1 config, handed a 1.0.0 result: 0.3.1 needs ips[].version.
  await node.create(batch);
  const current = await bridgeResult(node, batch, mesh.meshnode, '1.0.0');
  t.is(current.ips[0]!.version, undefined);
  t.deepEqual(await add(batch, '0.3.1', current), { ...current, cniVersion: '0.3.1', ips: current.ips.map((ip) => ({ ...ip, version: '4' })) });

  // The same version in and out: the result is passed through as it is.
  t.deepEqual(await add(batch, '1.0.0', current), current);
}, TOOLS);
