import { runCommand, type CommandResult } from '../../agent/process/run-command.js';

export type ExecResult = CommandResult;

/** Runtimes start CNI plugins with a minimal PATH; the sbin directories hold iptables and ip. */
const SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs `cmd args` in the plugin's environment (PATH extended by the sbin directories), feeding
 * `input` on stdin; stderr comes back trimmed. Rejects only when the process cannot be started.
 */
export async function run(cmd: string, args: readonly string[], input = ''): Promise<ExecResult> {
  const env = { ...process.env, PATH: process.env.PATH ? `${process.env.PATH}:${SEARCH_PATH}` : SEARCH_PATH };
  const result = await runCommand(cmd, args, { input, env });
  return { ...result, stderr: result.stderr.trim() };
}

/** `run` inside the network namespace at `netnsPath` (`nsenter --net=`). */
export function inNetns(netnsPath: string, cmd: string, args: readonly string[], input = ''): Promise<ExecResult> {
  return run('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], input);
}
