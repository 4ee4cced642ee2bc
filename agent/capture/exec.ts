import { runCommand, type CommandResult } from '../process/run-command.js';

export type ExecResult = CommandResult;

/** Runtimes start CNI plugins with a minimal PATH; the sbin directories hold iptables and ip. */
const SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The plugin's environment for the tools it runs: PATH extended by the sbin directories. */
export function toolEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: process.env.PATH ? `${process.env.PATH}:${SEARCH_PATH}` : SEARCH_PATH };
}

/**
 * Runs `cmd args` in the plugin's environment (toolEnv), feeding `input` on stdin; stderr comes
 * back trimmed. Rejects only when the process cannot be started.
 */
export async function run(cmd: string, args: readonly string[], input = ''): Promise<ExecResult> {
  const result = await runCommand(cmd, args, { input, env: toolEnv() });
  return { ...result, stderr: result.stderr.trim() };
}

/** `run` inside the network namespace at `netnsPath` (`nsenter --net=`). */
export function inNetns(netnsPath: string, cmd: string, args: readonly string[], input = ''): Promise<ExecResult> {
  return run('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], input);
}
