import { constants, type Stats } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_LIMITS, describeLimit } from './limits.js';
import type { Problems } from './problems.js';
import { MeshnodeError } from '../base/errors.js';

/** One config file's text, read whole. */
export interface ConfigFile {
  readonly file: string;
  readonly text: string;
}

/** Reading a config file failed for a reason of its own (not a YAML problem); `code` says which. */
export class ConfigFileError extends MeshnodeError {
  constructor(readonly code: 'ERR_CONFIG_NOT_REGULAR' | 'ERR_CONFIG_TOO_LARGE' | 'ERR_CONFIG_READ_TIMEOUT', message: string) {
    super(message);
  }
}

/**
 * The files of a config path: the path itself, or a directory's `*.yaml`/`*.yml` entries in name
 * order. Only regular files are read (symlinks, as in Kubernetes ConfigMap mounts, are followed
 * first): a FIFO would block the read forever — and, because Node joins its I/O threads on exit,
 * SIGTERM too — and a device such as /dev/zero never ends. Each file that cannot be used is an
 * error problem; reading goes on with the next so that one pass reports every file. Throws only
 * when the path itself cannot be listed.
 */
export async function readConfigFiles(path: string, problems: Problems): Promise<ConfigFile[]> {
  const files = await listFiles(path, problems);
  const out: ConfigFile[] = [];
  let budget = CONFIG_LIMITS.bytes;
  const deadline = Date.now() + CONFIG_LIMITS.readTimeoutMs;
  for (const file of files) {
    try {
      const text = await readRegularFile(file, budget, deadline);
      budget -= Buffer.byteLength(text);
      out.push({ file, text });
    } catch (err) {
      if (!(err instanceof ConfigFileError)) throw err;
      fileProblem(problems, file, err.message);
      // Past the size or time limit every further file would fail the same way.
      if (err.code !== 'ERR_CONFIG_NOT_REGULAR') break;
    }
  }
  return out;
}

async function listFiles(path: string, problems: Problems): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => /\.ya?ml$/.test(n)).sort();
  if (names.length > CONFIG_LIMITS.files) {
    fileProblem(problems, path, `directory has ${names.length} config files, over the limit of ${describeLimit('files')}`);
    return [];
  }
  return names.map((n) => join(path, n));
}

/**
 * Opens without blocking (O_NONBLOCK: a FIFO's open would wait for a writer), checks what the
 * opened descriptor is (no race with a rename between a stat and the open) and reads at most
 * `maxBytes`, whatever the file claims its size is.
 */
async function readRegularFile(file: string, maxBytes: number, deadline: number): Promise<string> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    // A unix socket cannot be opened at all.
    if (err.code === 'ENXIO') throw new ConfigFileError('ERR_CONFIG_NOT_REGULAR', 'is a socket, not a regular file');
    throw err;
  });
  const reading = (async () => {
    const info = await handle.stat();
    if (!info.isFile()) throw new ConfigFileError('ERR_CONFIG_NOT_REGULAR', `is ${fileType(info)}, not a regular file`);
    const tooLarge = () => new ConfigFileError('ERR_CONFIG_TOO_LARGE',
      `config is over the ${describeLimit('bytes')} limit for all config files together; split the mesh or drop objects meshnode does not read`);
    if (info.size > maxBytes) throw tooLarge();
    // One byte more than allowed tells a file that grew since the fstat from one that fits.
    const buffer = Buffer.alloc(Math.min(info.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooLarge();
      if (length === buffer.length) break;
    }
    return buffer.toString('utf8', 0, length);
  })();
  // The descriptor is closed when the read settles, also after a timeout gave up on it.
  void reading.finally(() => handle.close()).catch(() => undefined);
  return withDeadline(reading, deadline);
}

function withDeadline<T>(work: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConfigFileError('ERR_CONFIG_READ_TIMEOUT',
      `reading the config took longer than ${describeLimit('readTimeoutMs')}`)), Math.max(0, deadline - Date.now()));
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function fileType(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isDirectory()) return 'a directory';
  if (info.isSocket()) return 'a socket';
  return 'not a file';
}

function fileProblem(problems: Problems, file: string, message: string): void {
  problems.error({ file, index: 0, line: 1, kind: '', namespace: '', name: '' }, '', message);
}
