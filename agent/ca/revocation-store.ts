import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeSerial, CRL_REASONS, type CrlReason } from '../base/crl.js';
import { MeshnodeError } from '../base/errors.js';
import { writeFileAtomic } from '../identity/index.js';

/**
 * The CA's revocation state in DIR, shared by `meshnode ca revoke|unrevoke|revocations` and the
 * running CA:
 *
 * - `issued.jsonl`: what the CA issued, one `{"serial","identity","notAfter"}` line per
 *   certificate. Only the running CA writes it (appends whole lines; compaction replaces the
 *   file by rename), so a reader sees complete lines and at worst a torn last one, which it skips.
 * - `revocations.json`: revoked serials and identities. Only the CLI writes it, under the
 *   `revocations.lock` file, by atomic replace (temporary file, fsync, rename); the CA reads it.
 *
 * Both drop what has expired: a CRL need not list a certificate past its notAfter.
 */

export const ISSUED_FILE = 'issued.jsonl';
export const REVOCATIONS_FILE = 'revocations.json';
export const CRL_FILE = 'ca-crl.pem';
const LOCK_FILE = 'revocations.lock';
/** A lock older than this was left by a crashed command. */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 5_000;

export class RevocationStoreError extends MeshnodeError {
  readonly code = 'ERR_CA_REVOCATIONS';
}

export interface IssuedRecord {
  readonly serial: string;
  readonly identity: string;
  readonly notAfter: Date;
}

export interface RevokedSerial {
  readonly serial: string;
  readonly identity: string;
  readonly notAfter: Date;
  readonly revokedAt: Date;
  readonly reason: CrlReason;
}

export interface RevokedIdentity {
  readonly identity: string;
  readonly revokedAt: Date;
  readonly reason: CrlReason;
}

export interface Revocations {
  readonly serials: readonly RevokedSerial[];
  readonly identities: readonly RevokedIdentity[];
}

export const NO_REVOCATIONS: Revocations = { serials: [], identities: [] };

export function issuedLine(r: IssuedRecord): string {
  return `${JSON.stringify({ serial: r.serial, identity: r.identity, notAfter: r.notAfter.toISOString() })}\n`;
}

/** The unexpired certificates recorded in `text`; malformed lines (a torn last write) are skipped. */
export function parseIssued(text: string, now: number): IssuedRecord[] {
  const out: IssuedRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const v = JSON.parse(line) as { serial?: unknown; identity?: unknown; notAfter?: unknown };
      const notAfter = new Date(String(v.notAfter));
      if (typeof v.serial !== 'string' || typeof v.identity !== 'string' || !(notAfter.getTime() > now)) continue;
      out.push({ serial: normalizeSerial(v.serial), identity: v.identity, notAfter });
    } catch {
      /* a torn line */
    }
  }
  return out;
}

export function readIssued(dir: string, now = Date.now()): IssuedRecord[] {
  const path = join(dir, ISSUED_FILE);
  return existsSync(path) ? parseIssued(readFileSync(path, 'utf8'), now) : [];
}

function reasonOf(value: unknown, where: string): CrlReason {
  if (typeof value === 'string' && value in CRL_REASONS) return value as CrlReason;
  throw new RevocationStoreError(`${where}: reason ${JSON.stringify(value)} is not a CRL reason`);
}

function dateOf(value: unknown, where: string): Date {
  const d = new Date(String(value));
  if (Number.isNaN(d.getTime())) throw new RevocationStoreError(`${where}: ${JSON.stringify(value)} is not a time`);
  return d;
}

/** Parses `revocations.json`; a file that is not what the CLI writes is an error naming the entry. */
export function parseRevocations(text: string, source: string, now: number): Revocations {
  let doc: { serials?: unknown; identities?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new RevocationStoreError(`${source}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(doc.serials) || !Array.isArray(doc.identities)) throw new RevocationStoreError(`${source}: needs "serials" and "identities" lists`);
  const serials = doc.serials.map((e: Record<string, unknown>, i) => {
    const where = `${source}: serials[${i}]`;
    if (typeof e?.serial !== 'string' || !/^[0-9A-Fa-f]+$/.test(e.serial) || typeof e.identity !== 'string') throw new RevocationStoreError(`${where}: needs a hex serial and an identity`);
    return { serial: normalizeSerial(e.serial), identity: e.identity, notAfter: dateOf(e.notAfter, where), revokedAt: dateOf(e.revokedAt, where), reason: reasonOf(e.reason, where) };
  }).filter((e) => e.notAfter.getTime() > now);
  const identities = doc.identities.map((e: Record<string, unknown>, i) => {
    const where = `${source}: identities[${i}]`;
    if (typeof e?.identity !== 'string') throw new RevocationStoreError(`${where}: needs an identity`);
    return { identity: e.identity, revokedAt: dateOf(e.revokedAt, where), reason: reasonOf(e.reason, where) };
  });
  return { serials, identities };
}

export function readRevocations(dir: string, now = Date.now()): Revocations {
  const path = join(dir, REVOCATIONS_FILE);
  if (!existsSync(path)) return NO_REVOCATIONS;
  return parseRevocations(readFileSync(path, 'utf8'), path, now);
}

function formatRevocations(r: Revocations): string {
  return `${JSON.stringify({
    serials: r.serials.map((s) => ({ serial: s.serial, identity: s.identity, notAfter: s.notAfter.toISOString(), revokedAt: s.revokedAt.toISOString(), reason: s.reason })),
    identities: r.identities.map((i) => ({ identity: i.identity, revokedAt: i.revokedAt.toISOString(), reason: i.reason })),
  }, null, 2)}\n`;
}

function acquireLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(path, 'wx', 0o600));
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new RevocationStoreError(`cannot lock ${path}: ${(err as Error).message}`);
    }
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_LOCK_MS) rmSync(path, { force: true });
    } catch {
      /* released meanwhile */
    }
    if (Date.now() > deadline) throw new RevocationStoreError(`${path} is held by another command; try again`);
    // A command-line tool may wait synchronously; the running CA never takes this lock.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/** Reads, changes and atomically rewrites `revocations.json` under the lock; returns the new state. */
export function updateRevocations(dir: string, change: (current: Revocations) => Revocations, now = Date.now()): Revocations {
  const release = acquireLock(dir);
  try {
    const next = change(readRevocations(dir, now));
    writeFileAtomic(join(dir, REVOCATIONS_FILE), formatRevocations(next), 0o644);
    return next;
  } finally {
    release();
  }
}
