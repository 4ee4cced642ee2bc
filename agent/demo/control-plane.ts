import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { shippedScript } from '../base/install-layout.js';
import { exec, startDaemon, waitFor, type Daemon, type Resources } from './system.js';

/**
 * Starting the real control plane inside a netns: `meshnode ca` and `meshnode agent`, as child
 * processes run with `ip netns exec`. Shared by the demo, the privileged CNI tests and bench/cni.
 */
export const MESHNODE_MAIN = shippedScript('agent/main.js');
export const SAMPLE_APP = shippedScript('agent/demo/sample-app.js');

export interface CaSpec {
  readonly netns: string;
  /** Working directory: the CA keeps its keys in DIR/ca, agents read DIR/agent-token. */
  readonly dir: string;
  readonly listen: string;
  readonly trustDomain: string;
}

/** `meshnode ca` with one bearer token that lets agents impersonate any workload identity. */
export async function startCa(res: Resources, spec: CaSpec): Promise<Daemon> {
  const caDir = `${spec.dir}/ca`;
  mkdirSync(caDir, { recursive: true });
  const token = randomBytes(24).toString('hex');
  writeFileSync(`${spec.dir}/agent-token`, token, { mode: 0o600 });
  const grants = [{ token, identity: `spiffe://${spec.trustDomain}/ns/meshnode-system/sa/meshnode-agent`, impersonate: [`spiffe://${spec.trustDomain}/ns/*/sa/*`] }];
  writeFileSync(`${spec.dir}/ca-tokens.yaml`, stringify(grants), { mode: 0o600 });
  const host = spec.listen.slice(0, spec.listen.lastIndexOf(':'));
  const ca = startDaemon(res, 'meshnode ca', spec.netns, [process.execPath, MESHNODE_MAIN, 'ca', '--dir', caDir,
    '--listen', spec.listen, '--tokens', `${spec.dir}/ca-tokens.yaml`, '--hostname', host, '--trust-domain', spec.trustDomain], `${spec.dir}/ca.log`);
  await waitFor('the CA to listen', 20_000, () => {
    if (ca.exited) throw new Error(`meshnode ca exited (${ca.exited.code ?? ca.exited.signal}):\n${tail(ca.log())}`);
    return /"msg":"listening"/.test(ca.log()) && existsSync(`${caDir}/root-cert.pem`) ? true : undefined;
  });
  return ca;
}

export interface AgentSpec {
  readonly netns: string;
  /** The CA's working directory (root cert and token). */
  readonly caDir: string;
  readonly caAddress: string;
  /** This agent's own directory: cni.sock, state/, agent.log. */
  readonly dir: string;
  readonly node: string;
  /** The mesh source: a YAML config path, or the Kubernetes API through a kubeconfig (`--kube`). */
  readonly config: string | { readonly kubeconfig: string };
  readonly trustDomain: string;
  /** More `meshnode agent` flags (`--workers 2`). */
  readonly extraArgs?: readonly string[];
}

export const agentSocketOf = (spec: AgentSpec) => `${spec.dir}/cni.sock`;

/**
 * The Node flags on the `meshnode` interpreter line (V8 heap settings for the data plane), so an
 * agent started here runs exactly as the installed `meshnode agent` does.
 */
export function installedNodeFlags(): string[] {
  const first = readFileSync(MESHNODE_MAIN, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node((?: --[\w-]+=\S+)*)$/.exec(first);
  if (!m) throw new Error(`unexpected interpreter line in ${MESHNODE_MAIN}: ${first}`);
  return m[1]!.trim().split(' ').filter(Boolean);
}

export function agentArgs(spec: AgentSpec): string[] {
  return [process.execPath, ...installedNodeFlags(), MESHNODE_MAIN, 'agent',
    ...(typeof spec.config === 'string' ? ['--config', spec.config] : ['--kube', '--kubeconfig', spec.config.kubeconfig]), '--node', spec.node,
    '--ca-address', spec.caAddress, '--ca-root', `${spec.caDir}/ca/root-cert.pem`, '--ca-token-file', `${spec.caDir}/agent-token`,
    '--cni-socket', agentSocketOf(spec), '--state-dir', `${spec.dir}/state`, '--trust-domain', spec.trustDomain, ...spec.extraArgs ?? []];
}

/** One `meshnode agent` inside the node netns; resolves when its /healthz/ready says so. */
export async function startAgent(res: Resources, spec: AgentSpec): Promise<Daemon> {
  mkdirSync(`${spec.dir}/state`, { recursive: true });
  const agent = startDaemon(res, `agent on ${spec.node}`, spec.netns, agentArgs(spec), `${spec.dir}/agent.log`);
  await waitFor(`the agent on ${spec.node} to be ready`, 30_000, async () => {
    if (agent.exited) throw new Error(`the agent on ${spec.node} exited (${agent.exited.code ?? agent.exited.signal}):\n${tail(agent.log())}`);
    return inNetns(spec.netns, ['get', 'http://127.0.0.1:15021/healthz/ready']).then(() => true, () => undefined);
  });
  return agent;
}

/** Runs the sample app (`call`, `get`, `serve`) inside a netns and returns its stdout. */
export function inNetns(netns: string, args: string[]): Promise<string> {
  return exec('ip', ['netns', 'exec', netns, process.execPath, SAMPLE_APP, ...args]);
}

/** Starts the sample server inside a pod netns; resolves once it listens. */
export async function startSampleServer(res: Resources, netns: string, name: string, port: number, logFile: string): Promise<Daemon> {
  const d = startDaemon(res, `${name} app`, netns, [process.execPath, SAMPLE_APP, 'serve', '--name', name, '--port', String(port)], logFile);
  await waitFor(`${name}'s server`, 10_000, () => {
    if (d.exited) throw new Error(`${name}'s server exited:\n${tail(d.log())}`);
    return d.log().includes('"listening"') ? true : undefined;
  });
  return d;
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
