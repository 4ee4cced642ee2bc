import { execFile } from 'node:child_process';
import { meshnodeBin } from './paths.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `meshnode ARGS` as a user does: a real process, its exit code and output. Never rejects;
 * `code` is -1 when the process did not exit on its own (killed, could not start, or still
 * running after `timeoutMs`, so a command that hangs fails its test instead of stalling the run).
 */
export function runMeshnode(args: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [meshnodeBin, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
