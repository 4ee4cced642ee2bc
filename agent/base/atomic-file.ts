import { open, rename, writeFile } from 'node:fs/promises';

/**
 * Replaces `path` with `text` so a reader (or a crash) sees the old file or the new one, never
 * part of either: a temporary file beside it, fsync, rename.
 */
export async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  const handle = await open(tmp, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}
