import { runCommand, type CommandResult } from '../process/run-command.js';
import { toolEnv } from '../process/tool-env.js';

export { toolEnv };

export type ExecResult = CommandResult;

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
