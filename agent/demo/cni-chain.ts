import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../process/run-command.js';
import { MeshnodeError } from '../base/errors.js';

/**
 * Runs CNI plugins exactly as a container runtime does: each plugin binary is found by `type` in
 * CNI_PATH, gets the CNI_* environment and its config on stdin (with the previous plugin's result
 * as `prevResult`), and answers on stdout. Used by `meshnode demo` and the privileged tests.
 */
export interface ConfList {
  readonly cniVersion: string;
  readonly name: string;
  readonly plugins: readonly Record<string, unknown>[];
}

export interface CniPod {
  /** Path of the pod netns, e.g. /var/run/netns/NAME. */
  readonly netns: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface ChainOptions {
  /** Directories searched for plugin binaries, in order. */
  readonly cniPath: readonly string[];
  /** Run the plugins inside this named netns (a demo "node"); default: the caller's netns. */
  readonly runIn?: string;
}

export interface PluginRun {
  readonly plugin: string;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export class CniChainError extends MeshnodeError {
  readonly code = 'ERR_CNI_CHAIN';
  constructor(readonly run: PluginRun, command: string) {
    super(`${command} failed in plugin ${run.plugin} (exit ${run.code}): ${describe(run)}`);
  }
}

function describe(run: PluginRun): string {
  try {
    const e = JSON.parse(run.stdout) as { code?: number; msg?: string; details?: string };
    return `code ${e.code}: ${e.msg}${e.details ? ` (${e.details})` : ''}`;
  } catch {
    return run.stdout.trim() || run.stderr.trim() || 'no output';
  }
}

export function findPlugin(type: string, cniPath: readonly string[]): string {
  for (const dir of cniPath) if (existsSync(join(dir, type))) return join(dir, type);
  throw new Error(`CNI plugin "${type}" not found in ${cniPath.join(':')}`);
}

export function podEnv(command: string, pod: CniPod, opts: ChainOptions): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: pod.netns,
    CNI_IFNAME: pod.ifname,
    CNI_PATH: opts.cniPath.join(':'),
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId};K8S_POD_UID=${pod.uid}`,
  };
}

/** Executes one plugin binary with `env` and `config` on stdin. */
export async function execPlugin(type: string, env: NodeJS.ProcessEnv, config: Record<string, unknown>, opts: ChainOptions): Promise<PluginRun> {
  const binary = findPlugin(type, opts.cniPath);
  const [cmd, args] = opts.runIn ? ['ip', ['netns', 'exec', opts.runIn, binary]] : [binary, []];
  const started = performance.now();
  const run = await runCommand(cmd, args, { env, input: JSON.stringify(config) });
  return { plugin: type, ...run, durationMs: performance.now() - started };
}

function pluginConfig(list: ConfList, plugin: Record<string, unknown>, prevResult: unknown): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  if (prevResult !== undefined) conf.prevResult = prevResult;
  return conf;
}

/**
 * ADD through the whole list in order, each plugin fed the previous result. If a plugin fails,
 * the ones already added are deleted in reverse (what runtimes do) and the error is thrown.
 * Returns the final result and each plugin's run.
 */
export async function chainAdd(list: ConfList, pod: CniPod, opts: ChainOptions): Promise<{ result: unknown; runs: PluginRun[] }> {
  let prev: unknown;
  const runs: PluginRun[] = [];
  for (const plugin of list.plugins) {
    const run = await execPlugin(String(plugin.type), podEnv('ADD', pod, opts), pluginConfig(list, plugin, prev), opts);
    runs.push(run);
    if (run.code !== 0) {
      await chainDel({ ...list, plugins: list.plugins.slice(0, runs.length - 1) }, pod, prev, opts).catch(() => undefined);
      throw new CniChainError(run, 'ADD');
    }
    prev = JSON.parse(run.stdout);
  }
  return { result: prev, runs };
}

/** DEL in reverse order with the saved ADD result. Every plugin runs; the first failure is thrown. */
export async function chainDel(list: ConfList, pod: CniPod, result: unknown, opts: ChainOptions): Promise<PluginRun[]> {
  const runs: PluginRun[] = [];
  for (const plugin of [...list.plugins].reverse()) {
    runs.push(await execPlugin(String(plugin.type), podEnv('DEL', pod, opts), pluginConfig(list, plugin, result), opts));
  }
  const failed = runs.find((r) => r.code !== 0);
  if (failed) throw new CniChainError(failed, 'DEL');
  return runs;
}

/** CHECK in order with the saved ADD result; throws at the first plugin that reports a problem. */
export async function chainCheck(list: ConfList, pod: CniPod, result: unknown, opts: ChainOptions): Promise<void> {
  for (const plugin of list.plugins) {
    const run = await execPlugin(String(plugin.type), podEnv('CHECK', pod, opts), pluginConfig(list, plugin, result), opts);
    if (run.code !== 0) throw new CniChainError(run, 'CHECK');
  }
}

/** The runtime's separate loopback network: brings `lo` up in the pod netns. */
export async function loopbackUp(pod: CniPod, opts: ChainOptions): Promise<void> {
  const run = await execPlugin('loopback', podEnv('ADD', { ...pod, ifname: 'lo' }, opts), { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' }, opts);
  if (run.code !== 0) throw new CniChainError(run, 'ADD');
}
