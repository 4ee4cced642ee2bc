import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../base/atomic-file.js';
import { join } from 'node:path';
import type { RegisteredPod } from './registered-pod.js';
import { parsePodBody } from './validate.js';

/** A registration as persisted: the pod and the identity of the netns it was opened in. */
export interface StoredPod {
  readonly pod: RegisteredPod;
  /** NetnsHandle.id at registration; a restart reopens only the very same namespace. */
  readonly netnsId: string | undefined;
}

/** A persisted registration that could not be read back. */
export interface StoreProblem {
  readonly file: string;
  readonly reason: string;
}

/**
 * Pod registrations on disk: one JSON file per pod in `<state-dir>/pods/`, written atomically
 * (temporary file, fsync, rename), mode 0600. File names are a hash of the uid, so any uid the
 * CNI sends is a safe file name.
 */
export class PodStore {
  readonly dir: string;

  /** `kind` names the folder: `pods` for registrations, `observed` for pods left uncaptured. */
  constructor(stateDir: string, kind: 'pods' | 'observed' = 'pods') {
    this.dir = join(stateDir, kind);
  }

  private file(uid: string): string {
    return join(this.dir, `${createHash('sha256').update(uid).digest('hex').slice(0, 32)}.json`);
  }

  async save(pod: RegisteredPod, netnsId: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(pod.uid), JSON.stringify({ ...pod, netnsId }) + '\n', 0o600);
  }

  async remove(uid: string): Promise<void> {
    await rm(this.file(uid), { force: true });
  }

  /** Every readable registration, plus the files that were not (which are deleted). */
  async load(): Promise<{ pods: StoredPod[]; problems: StoreProblem[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { pods: [], problems: [] };
      throw err;
    }
    const pods: StoredPod[] = [];
    const problems: StoreProblem[] = [];
    for (const name of names.sort()) {
      const file = join(this.dir, name);
      if (!name.endsWith('.json')) {
        await rm(file, { force: true }); // an interrupted write
        continue;
      }
      try {
        const json: unknown = JSON.parse(await readFile(file, 'utf8'));
        const netnsId = (json as { netnsId?: unknown }).netnsId;
        pods.push({ pod: parsePodBody(json), netnsId: typeof netnsId === 'string' ? netnsId : undefined });
      } catch (err) {
        problems.push({ file, reason: (err as Error).message });
        await rm(file, { force: true });
      }
    }
    return { pods, problems };
  }
}
