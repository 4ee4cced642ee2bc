import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runtimes start CNI plugins with a minimal PATH; the sbin directories hold iptables and ip. */
const SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Runs `cmd args` inside the network namespace at `netnsPath` (`nsenter --net=`), feeding `input`
 * on stdin. Resolves with the exit code; rejects only when the process cannot be started.
 */
export function inNetns(netnsPath: string, cmd: string, args: readonly string[], input = ''): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PATH: process.env.PATH ? `${process.env.PATH}:${SEARCH_PATH}` : SEARCH_PATH };
    const child = spawn('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString().trim() });
    });
    child.stdin.on('error', () => { /* the exit code reports the failure */ });
    child.stdin.end(input);
  });
}
