import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { IdentityError } from './errors.js';
import { pemDecodeAll, pemEncode } from '../base/pem.js';

/**
 * A PEM file that may be replaced on disk (a rotated CA root, a ConfigMap update). `read()` is
 * cheap when nothing changed: one stat; the file is re-read only when its identity or size or
 * mtime changes, so old and new roots are picked up without a restart.
 */
export class WatchedPemFile {
  private stamp = '';
  private roots: X509Certificate[] = [];
  private rootsPem: string[] = [];
  private checkedAt = 0;

  constructor(readonly path: string) {}

  private pending: Promise<X509Certificate[]> | undefined;

  /**
   * The certificates in the file; the same array until the file changes, so callers detect a
   * change by identity. Concurrent callers share one read.
   */
  read(): Promise<X509Certificate[]> {
    this.checkedAt = Date.now();
    this.pending ??= this.refresh().finally(() => { this.pending = undefined; });
    return this.pending;
  }

  private async refresh(): Promise<X509Certificate[]> {
    let stamp: string;
    try {
      const s = await stat(this.path);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
      if (stamp === this.stamp) return this.roots;
      this.roots = parseRoots(await readFile(this.path, 'utf8'), this.path);
      this.rootsPem = certsToPem(this.roots);
    } catch (err) {
      if (err instanceof IdentityError) throw err;
      throw new IdentityError('trust_bundle', `cannot read ${this.path}: ${(err as Error).message}`);
    }
    this.stamp = stamp;
    return this.roots;
  }

  /** The last successfully read certificates (empty before the first read). */
  get current(): readonly X509Certificate[] {
    return this.roots;
  }

  /** `current` as PEM strings (encoded once per change). */
  get currentPem(): string[] {
    return this.rootsPem;
  }

  /** Milliseconds since the file was last checked. */
  get age(): number {
    return Date.now() - this.checkedAt;
  }
}

export function parseRoots(text: string, source: string): X509Certificate[] {
  let ders: Buffer[];
  try {
    ders = pemDecodeAll(text, 'CERTIFICATE');
  } catch (err) {
    throw new IdentityError('trust_bundle', `${source}: ${(err as Error).message}`);
  }
  if (ders.length === 0) throw new IdentityError('trust_bundle', `${source} holds no PEM certificate`);
  try {
    return ders.map((d) => new X509Certificate(d));
  } catch (err) {
    throw new IdentityError('trust_bundle', `${source}: ${(err as Error).message}`);
  }
}

export function certsToPem(certs: readonly X509Certificate[]): string[] {
  return certs.map((c) => pemEncode(c.raw, 'CERTIFICATE'));
}
