import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

/** Runs a command to completion; rejects with its stderr when it fails. */
export function exec(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.on('error', () => { /* the command did not read its input; its exit status tells */ });
    child.stdin?.end(input ?? '');
  });
}

/**
 * Everything the demo creates, released in reverse order on exit, Ctrl-C or failure. Each
 * release step runs even when an earlier one fails.
 */
export class Resources {
  private readonly stack: { what: string; release: () => Promise<void> }[] = [];

  add(what: string, release: () => Promise<void>): void {
    this.stack.push({ what, release });
  }

  async releaseAll(onError: (what: string, err: Error) => void): Promise<void> {
    while (this.stack.length > 0) {
      const { what, release } = this.stack.pop()!;
      await release().catch((err: Error) => onError(what, err));
    }
  }
}

export interface Daemon {
  readonly label: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Set once the process has exited. */
  exited?: { code: number | null; signal: NodeJS.Signals | null };
  log(): string;
}

/** Starts a long-running process inside a named netns, output to `logFile`; stopped on release. */
export function startDaemon(res: Resources, label: string, netns: string, args: readonly string[], logFile: string): Daemon {
  const fd = openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', netns, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const daemon: Daemon = { label, logFile, child, log: () => readFileSync(logFile, 'utf8') };
  child.on('exit', (code, signal) => { daemon.exited = { code, signal }; });
  res.add(`stop ${label}`, () => stopDaemon(daemon));
  return daemon;
}

/** SIGTERM, SIGKILL after 8 s; resolves once it exited. Idempotent. */
export async function stopDaemon(d: Daemon): Promise<void> {
  if (d.exited || d.child.exitCode !== null) return;
  const gone = new Promise<void>((resolve) => d.child.once('exit', () => resolve()));
  d.child.kill('SIGTERM');
  const timer = setTimeout(() => d.child.kill('SIGKILL'), 8000);
  await gone;
  clearTimeout(timer);
}

/** Polls until `check` returns a value, or throws the last reason after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 25; ; delay = Math.min(delay * 2, 400)) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() + delay > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}
