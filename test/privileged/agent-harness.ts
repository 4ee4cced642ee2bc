import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { meshnodeBin } from '../helpers/paths.js';
import { eventually } from '../helpers/eventually.js';
import { AGENT_TEST_MESH } from './agent-mesh.js';

/**
 * Real `meshnode ca` and `meshnode agent` processes for start-up, restart and shutdown tests.
 * Every process is killed and every directory removed on teardown.
 */
export interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

export function startProcess(t: ExecutionContext, args: string[], wrap: string[] = []): Proc {
  const argv = [...wrap, process.execPath, meshnodeBin, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const collect = (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(async () => {
    if (!t.passed) t.log(`${args[0]} output:\n${lines.slice(-40).join('\n')}`);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, lines, exited };
}

export function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  return eventually(async () => { if (!(await cond())) throw new Error(`timed out waiting for ${what}`); }, timeoutMs);
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

export interface HttpReply { status: number; body: string }

export function httpCall(target: { port: number } | { socketPath: string }, method: string, path: string, body?: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const where = 'port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath };
    const req = http.request({ ...where, method, path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const AGENT_ID = 'spiffe://cluster.local/ns/meshnode-system/sa/meshnode';

/** `meshnode ca` on a free port with a token that may impersonate every workload. */
export async function startCa(t: ExecutionContext, dir: string): Promise<{ port: number; rootFile: string; tokenFile: string }> {
  const tokens = join(dir, 'tokens.yaml');
  await writeFile(tokens, `- token: agent-token-for-tests-0123\n  identity: ${AGENT_ID}\n  impersonate: ['spiffe://cluster.local/ns/*/sa/*']\n`);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'agent-token-for-tests-0123\n');
  const ca = startProcess(t, ['ca', '--dir', join(dir, 'ca'), '--listen', '127.0.0.1:0', '--tokens', tokens, '--hostname', '127.0.0.1']);
  let port = 0;
  await until(() => {
    for (const line of ca.lines) {
      const m = /"msg":"listening".*"port":(\d+)/.exec(line);
      if (m) port = Number(m[1]);
    }
    return port > 0;
  }, 'the CA to listen');
  return { port, rootFile: join(dir, 'ca', 'root-cert.pem'), tokenFile };
}

export interface AgentPorts { admin: number; metrics: number; readiness: number }

export async function agentArgs(dir: string, ca: { port: number; rootFile: string; tokenFile: string }, config: string): Promise<{ args: string[]; ports: AgentPorts; socket: string; stateDir: string }> {
  const ports = { admin: await freePort(), metrics: await freePort(), readiness: await freePort() };
  const socket = join(dir, 'run', 'cni.sock');
  const stateDir = join(dir, 'state');
  const args = ['agent', '--config', config, '--node', 'n1',
    '--ca-address', `127.0.0.1:${ca.port}`, '--ca-root', ca.rootFile, '--ca-token-file', ca.tokenFile,
    '--cni-socket', socket, '--state-dir', stateDir,
    '--admin-address', `127.0.0.1:${ports.admin}`, '--metrics-address', `127.0.0.1:${ports.metrics}`,
    '--readiness-address', `127.0.0.1:${ports.readiness}`, '--drain-deadline', '2s'];
  return { args, ports, socket, stateDir };
}

/** A temp dir with a running `meshnode ca` and `meshYaml` as the mesh config, and agent flags using both. */
export async function agentWithCa(t: ExecutionContext, prefix: string, meshYaml: string = AGENT_TEST_MESH) {
  const dir = await tempDir(t, prefix);
  const ca = await startCa(t, dir);
  const config = join(dir, 'mesh.yaml');
  await writeFile(config, meshYaml);
  return { dir, config, ...(await agentArgs(dir, ca, config)) };
}

/** Polls /healthz/ready until 200; connection refusals while binding count as not ready. */
export function ready(port: number): Promise<void> {
  return until(async () => (await httpCall({ port }, 'GET', '/healthz/ready').catch(() => ({ status: 0, body: '' }))).status === 200, 'readiness');
}
