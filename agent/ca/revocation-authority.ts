import { watch, type FSWatcher } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCrlFile } from '../base/crl.js';
import { pemEncode } from '../base/pem.js';
import { certificateFields, KEY_USAGE, keyUsageAllows } from '../base/x509.js';
import { writeFileAtomic } from '../identity/index.js';
import type { Logger } from '../telemetry/log.js';
import { signCrl, type CrlEntry } from './crl.js';
import type { CaKeyMaterial } from './key-material.js';
import {
  CRL_FILE, ISSUED_FILE, issuedLine, NO_REVOCATIONS, parseIssued, parseRevocations, REVOCATIONS_FILE,
  type IssuedRecord, type Revocations,
} from './revocation-store.js';
import { compareText } from '../base/text.js';

/**
 * The running CA's side of revocation: it records every certificate it issues, follows
 * `revocations.json` as `meshnode ca revoke` changes it (a directory watch, with a once-a-second
 * check in case an event is missed), refuses identities that are revoked, and publishes a signed
 * CRL to `DIR/ca-crl.pem` and to every subscriber whenever the revoked set changes and again
 * before the published one's nextUpdate.
 */

export const DEFAULT_CRL_VALIDITY_MS = 24 * 3_600_000;
const POLL_MS = 1_000;

/** Why the CA's signing certificate may not sign CRLs, or undefined when it may. */
export function crlSigningRefusal(material: CaKeyMaterial): string | undefined {
  if (keyUsageAllows(certificateFields(material.signerCert.raw), KEY_USAGE.cRLSign)) return undefined;
  const file = material.mode === 'plug-in' ? 'ca-cert.pem' : 'root-cert.pem';
  return `the CA signing certificate (${file}, ${material.signerCert.subject.replace(/\n/g, ', ')}) has a keyUsage without cRLSign, ` +
    'so it cannot sign CRLs and peers would reject every CRL it signed; reissue it with keyUsage keyCertSign, cRLSign';
}

export interface PublishedCrl {
  readonly der: Buffer;
  readonly number: bigint;
}

export class RevocationAuthority {
  private issued = new Map<string, IssuedRecord>();
  private revocations: Revocations = NO_REVOCATIONS;
  private revokedIdentities = new Set<string>();
  private stamp = '';
  private number = 0n;
  private published: PublishedCrl | undefined;
  private readonly listeners = new Set<(crl: PublishedCrl) => void>();
  private appender: FileHandle | undefined;
  private pending: { line: string; done: () => void; failed: (err: Error) => void }[] = [];
  private flushing = false;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private resign: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly dir: string, private readonly material: CaKeyMaterial, private readonly validityMs: number, private readonly log: Logger) {}

  static async start(dir: string, material: CaKeyMaterial, log: Logger, validityMs = DEFAULT_CRL_VALIDITY_MS): Promise<RevocationAuthority> {
    const a = new RevocationAuthority(dir, material, validityMs, log);
    await a.load();
    a.number = await a.lastNumber();
    await a.reload(true);
    a.watcher = watch(dir, (_event, file) => { if (file === REVOCATIONS_FILE) void a.reload(false); });
    a.watcher.on('error', (err) => log.warn('cannot watch the CA directory; checking it every second', { dir, error: err }));
    a.poll = setInterval(() => void a.reload(false), POLL_MS);
    a.poll.unref();
    return a;
  }

  /** The CRL number to continue from: the one in an existing ca-crl.pem, so numbers only grow. */
  private async lastNumber(): Promise<bigint> {
    try {
      return parseCrlFile(await readFile(join(this.dir, CRL_FILE)))[0]?.number ?? 0n;
    } catch {
      return 0n;
    }
  }

  /** Loads the issued record left by earlier runs (then compacts it). */
  private async load(): Promise<void> {
    try {
      const text = await readFile(join(this.dir, ISSUED_FILE), 'utf8');
      this.issued = new Map(parseIssued(text, Date.now()).map((r) => [r.serial, r]));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await this.compact();
  }

  /**
   * Rewrites the issued record from memory without expired entries and reopens it for
   * appending; appends wait meanwhile (they hold the same `flushing` turn).
   */
  private async compact(): Promise<void> {
    while (this.flushing) await new Promise((r) => setImmediate(r));
    this.flushing = true;
    try {
      const now = Date.now();
      for (const [serial, r] of this.issued) if (r.notAfter.getTime() <= now) this.issued.delete(serial);
      await this.appender?.close();
      const path = join(this.dir, ISSUED_FILE);
      writeFileAtomic(path, [...this.issued.values()].map(issuedLine).join(''), 0o644);
      this.appender = await open(path, 'a', 0o644);
    } finally {
      this.flushing = false;
    }
    void this.flush();
  }

  isIdentityRevoked(identity: string): boolean {
    return this.revokedIdentities.has(identity);
  }

  /** Appends a certificate to the record; resolves once the line is written. */
  record(r: IssuedRecord): Promise<void> {
    this.issued.set(r.serial, r);
    return new Promise((done, failed) => {
      this.pending.push({ line: issuedLine(r), done, failed });
      void this.flush();
    });
  }

  /** Writes every queued line in one write; calls during a write queue for the next. */
  private async flush(): Promise<void> {
    if (this.flushing || this.pending.length === 0 || !this.appender) return;
    this.flushing = true;
    const batch = this.pending;
    this.pending = [];
    try {
      await this.appender.write(batch.map((b) => b.line).join(''));
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.failed(err as Error);
    } finally {
      this.flushing = false;
    }
    void this.flush();
  }

  get current(): PublishedCrl | undefined {
    return this.published;
  }

  /** Calls `listener` with every CRL published from now on. */
  subscribe(listener: (crl: PublishedCrl) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads revocations.json when it changed (or when `force`), then republishes. */
  private async reload(force: boolean): Promise<void> {
    if (this.closed) return;
    const path = join(this.dir, REVOCATIONS_FILE);
    let stamp = 'absent';
    try {
      const s = await stat(path);
      stamp = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      /* no revocations yet */
    }
    if (!force && stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.revocations = stamp === 'absent' ? NO_REVOCATIONS : parseRevocations(await readFile(path, 'utf8'), path, Date.now());
    } catch (err) {
      this.log.error('revocations not reloaded; keeping the last good ones', { file: path, error: err });
      return;
    }
    this.revokedIdentities = new Set(this.revocations.identities.map((i) => i.identity));
    this.publish();
  }

  /**
   * Revoked serials: those listed, plus any certificate of a revoked identity issued before the
   * CA saw the identity's revocation (the command lists the ones it knew of when it ran).
   */
  private entries(now: number): CrlEntry[] {
    const out = new Map<string, CrlEntry>();
    for (const s of this.revocations.serials) if (s.notAfter.getTime() > now) out.set(s.serial, s);
    for (const i of this.revocations.identities) {
      for (const r of this.issued.values()) {
        if (r.identity === i.identity && r.notAfter.getTime() > now && !out.has(r.serial)) out.set(r.serial, { serial: r.serial, revokedAt: i.revokedAt, reason: i.reason });
      }
    }
    return [...out.values()].sort((a, b) => compareText(a.serial, b.serial));
  }

  private publish(): void {
    clearTimeout(this.resign);
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    this.number += 1n;
    const entries = this.entries(now.getTime());
    const der = signCrl({ number: this.number, thisUpdate: now, nextUpdate: new Date(now.getTime() + this.validityMs), entries }, this.material);
    try {
      writeFileAtomic(join(this.dir, CRL_FILE), pemEncode(der, 'X509 CRL'), 0o644);
    } catch (err) {
      this.log.error('cannot write the CRL file', { file: join(this.dir, CRL_FILE), error: err });
    }
    this.published = { der, number: this.number };
    this.log.info('published CRL', { number: String(this.number), revoked: entries.length, nextUpdate: new Date(now.getTime() + this.validityMs).toISOString() });
    for (const l of this.listeners) l(this.published);
    // Re-signed half-way to nextUpdate, so a reader never holds an out-of-date CRL; expired
    // records are dropped at the same time.
    this.resign = setTimeout(() => {
      void this.compact().catch((err: unknown) => this.log.error('cannot compact the issued record', { error: err })).then(() => this.publish());
    }, this.validityMs / 2);
    this.resign.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.resign);
    this.listeners.clear();
    await this.appender?.close();
    this.appender = undefined;
  }
}
