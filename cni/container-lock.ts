import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { toolEnv } from '../agent/capture/index.js';
import { MeshnodeError } from '../agent/base/errors.js';

/** The lock could not be taken in time (another call holds it) or at all. */
export class ContainerLockError extends MeshnodeError {
  readonly code = 'ERR_CNI_LOCK';
  constructor(message: string, readonly timedOut: boolean) {
    super(message);
  }
}

export interface ContainerLock {
  release(): void;
}

/** flock(1)'s exit code when --wait runs out (chosen apart from its own failures). */
const TIMED_OUT = 75;

/**
 * Locks the open file description behind `fd` with flock(2), run by util-linux `flock` on the
 * descriptor it inherits: the lock belongs to the description, which this process keeps open
 * after `flock` exits. The kernel drops it when this process exits, however it exits, so a
 * crashed holder never leaves a stale lock.
 */
function flockFd(fd: number, timeoutMs: number): Promise<'locked' | 'timeout'> {
  return new Promise((resolve, reject) => {
    const args = ['--exclusive', '--wait', (Math.max(timeoutMs, 1) / 1000).toFixed(3), '--conflict-exit-code', String(TIMED_OUT), '3'];
    const child = spawn('flock', args, { env: toolEnv(), stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.on('error', (err) => reject(new ContainerLockError(`cannot run flock (util-linux): ${err.message}`, false)));
    child.on('close', (code) => {
      if (code === 0) resolve('locked');
      else if (code === TIMED_OUT) resolve('timeout');
      else reject(new ContainerLockError(`flock exited with ${code}: ${stderr.trim()}`, false));
    });
  });
}

function sameFile(fd: number, path: string): boolean {
  try {
    return fstatSync(fd).ino === statSync(path).ino;
  } catch {
    return false;
  }
}

/**
 * Serialises plugin calls for one container across processes: ADD and DEL of the same container
 * never interleave. The lock file `<dir>/<containerId>.lock` is removed by its holder on release;
 * a waiter that then gets the lock on the removed file notices (the path names another file or
 * none) and locks again. Resolves undefined, unlocked, when `dir`'s parent (the agent's socket
 * directory) does not exist: without an agent no ADD can succeed, so there is nothing to order.
 */
export async function lockContainer(dir: string, containerId: string, timeoutMs: number): Promise<ContainerLock | undefined> {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EEXIST') throw new ContainerLockError(`cannot create the lock directory ${dir}: ${(err as Error).message}`, false);
  }
  const name = containerId.length <= 200 ? containerId : createHash('sha256').update(containerId).digest('hex');
  const path = join(dir, `${name}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fd = openSync(path, 'a', 0o600);
    let state: 'locked' | 'timeout';
    try {
      state = await flockFd(fd, deadline - Date.now());
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (state === 'timeout') {
      closeSync(fd);
      throw new ContainerLockError(`another meshnode-cni call for container ${containerId} held ${path} for more than ${Math.round(timeoutMs / 1000)} s`, true);
    }
    if (sameFile(fd, path)) {
      return {
        release() {
          try { unlinkSync(path); } catch { /* removed already; closing still unlocks */ }
          closeSync(fd);
        },
      };
    }
    closeSync(fd);
  }
}
