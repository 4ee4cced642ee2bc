import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseCrlFile } from '../base/crl.js';
import type { Logger } from '../telemetry/log.js';
import type { Revocations } from './revocations.js';

/**
 * `--crl PATH`: CRLs distributed as files. PATH is a file (PEM with any number of `X509 CRL`
 * blocks, or one DER CRL) or a directory holding `ca-crl.pem`, the key of istiod's
 * `istio-ca-crl` ConfigMap as the kubelet mounts it (a `..data` symlink swapped on update).
 * The directory is watched, and checked every 2 s besides (a swap can come without an event
 * for the file itself); a file that cannot be read, parsed or verified is logged and counted,
 * and the last good CRLs stay in force. A missing file means no revocations until it appears.
 */

export const CRL_FILE_NAME = 'ca-crl.pem';
const RECHECK_MS = 2_000;
const DEBOUNCE_MS = 50;

export class CrlFile {
  private stamp = '';
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;

  private constructor(private readonly file: string, private readonly dir: string, private readonly target: Revocations, private readonly log: Logger) {}

  /** Resolves once the first load has been tried (its failure is logged, not thrown). */
  static async start(path: string, target: Revocations, log: Logger): Promise<CrlFile> {
    const isDir = await stat(path).then((s) => s.isDirectory(), () => false);
    const file = isDir ? join(path, CRL_FILE_NAME) : path;
    const w = new CrlFile(file, isDir ? path : dirname(path), target, log);
    await w.reload();
    try {
      w.watcher = watch(w.dir, () => w.soon());
      w.watcher.on('error', (err) => log.warn('cannot watch the CRL directory; checking it every 2 s', { dir: w.dir, error: err }));
    } catch (err) {
      log.warn('cannot watch the CRL directory; checking it every 2 s', { dir: w.dir, error: err });
    }
    w.timer = setInterval(() => void w.reload(), RECHECK_MS);
    w.timer.unref();
    return w;
  }

  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), DEBOUNCE_MS);
    this.debounce.unref();
  }

  /** Loads the file when its identity, size or time changed; one load at a time. */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = undefined;
      if (this.again) {
        this.again = false;
        void this.reload();
      }
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    let stamp: string;
    try {
      const s = await stat(this.file);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      if (this.stamp !== 'missing') this.log.warn('CRL file not found; no revocations from it until it appears', { file: this.file, error: (err as Error).message });
      if (this.stamp !== '' && this.stamp !== 'missing') this.target.failed('file', `${this.file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      this.stamp = 'missing';
      return;
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      const crls = parseCrlFile(await readFile(this.file));
      this.target.set('file', crls);
      this.log.info('CRL file loaded', { file: this.file, crls: crls.length, revoked: crls.reduce((n, c) => n + c.revoked.size, 0) });
    } catch (err) {
      const message = `${this.file}: ${(err as Error).message}`;
      this.target.failed('file', message);
      this.log.error('CRL file rejected; the last good CRLs stay in force', { file: this.file, error: message });
    }
  }

  close(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }
}
