import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { exec, startDaemon, waitFor, type Daemon, type Resources } from './system.js';
import type { DemoNode, Topology } from './topology.js';

export const MESHNODE_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
export const SAMPLE_APP = fileURLToPath(new URL('./sample-app.js', import.meta.url));
export const AGENT_IDENTITY = (t: Topology) => `spiffe://${t.trustDomain}/ns/meshnode-system/sa/meshnode-agent`;

/** `meshnode ca` on node-a, with one bearer token that both agents use to impersonate workloads. */
export async function startCa(t: Topology, res: Resources, dir: string): Promise<Daemon> {
  const caDir = `${dir}/ca`;
  mkdirSync(caDir, { recursive: true });
  const token = randomBytes(24).toString('hex');
  writeFileSync(`${dir}/agent-token`, token, { mode: 0o600 });
  writeFileSync(`${dir}/ca-tokens.yaml`, stringify([{ token, identity: AGENT_IDENTITY(t), impersonate: [`spiffe://${t.trustDomain}/ns/*/sa/*`] }]), { mode: 0o600 });
  const [host] = t.caAddress.split(':');
  const ca = startDaemon(res, 'meshnode ca', t.nodes[0].netns, [process.execPath, MESHNODE_MAIN, 'ca', '--dir', caDir,
    '--listen', t.caAddress, '--tokens', `${dir}/ca-tokens.yaml`, '--hostname', host!, '--trust-domain', t.trustDomain], `${dir}/ca.log`);
  await waitFor('the CA to listen', 20_000, () => {
    if (ca.exited) throw new Error(`meshnode ca exited (${ca.exited.code ?? ca.exited.signal}):\n${tail(ca.log())}`);
    return /"msg":"listening"/.test(ca.log()) && existsSync(`${caDir}/root-cert.pem`) ? true : undefined;
  });
  return ca;
}

export function agentArgs(t: Topology, node: DemoNode, dir: string): string[] {
  return [process.execPath, MESHNODE_MAIN, 'agent', '--config', `${dir}/mesh.yaml`, '--node', node.name,
    '--ca-address', t.caAddress, '--ca-root', `${dir}/ca/root-cert.pem`, '--ca-token-file', `${dir}/agent-token`,
    '--cni-socket', `${dir}/${node.name}/cni.sock`, '--state-dir', `${dir}/${node.name}/state`,
    '--trust-domain', t.trustDomain];
}

/** One `meshnode agent` per node, inside the node netns; resolves when /healthz/ready says so. */
export async function startAgent(t: Topology, node: DemoNode, res: Resources, dir: string): Promise<Daemon> {
  mkdirSync(`${dir}/${node.name}/state`, { recursive: true });
  const agent = startDaemon(res, `agent on ${node.name}`, node.netns, agentArgs(t, node, dir), `${dir}/${node.name}/agent.log`);
  await waitFor(`the agent on ${node.name} to be ready`, 30_000, async () => {
    if (agent.exited) throw new Error(`the agent on ${node.name} exited (${agent.exited.code ?? agent.exited.signal}):\n${tail(agent.log())}`);
    return inNetns(node.netns, ['get', 'http://127.0.0.1:15021/healthz/ready']).then(() => true, () => undefined);
  });
  return agent;
}

/** Runs the sample app (`call`, `get`, ...) inside a netns and returns its stdout. */
export function inNetns(netns: string, args: string[]): Promise<string> {
  return exec('ip', ['netns', 'exec', netns, process.execPath, SAMPLE_APP, ...args]);
}

export function tail(text: string, lines = 12): string {
  return text.trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
}

/** Every JSON log line of a daemon, parsed (non-JSON lines skipped). */
export function jsonLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch { /* a partial last line */ }
  }
  return out;
}

export { exec };
