import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parse } from 'yaml';
import { parseSpiffeId, type SpiffeId } from '../base/spiffe-id.js';
import { CaKeyMaterialError } from './errors.js';

/**
 * The `--tokens FILE` table: `[{token, identity, impersonate?, expires?}]`; `expires` (RFC 3339)
 * makes a short-lived credential, such as a VM's bootstrap token, refused once it has passed. Tokens are kept only as SHA-256
 * digests, so the lookup does not compare secrets byte by byte and a heap dump holds no token.
 */

export interface TokenGrant {
  /** The caller's own SPIFFE id. */
  readonly identity: SpiffeId;
  /** Identity patterns it may request via `ImpersonatedIdentity`; `*` is one whole segment. */
  readonly impersonate: readonly string[];
  /** Milliseconds since the epoch after which the token is refused; none = never expires. */
  readonly expiresAt?: number;
}

export class TokenFileError extends CaKeyMaterialError {}

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

function checkPattern(pattern: unknown, where: string): string {
  if (typeof pattern !== 'string' || !pattern.startsWith('spiffe://')) throw new TokenFileError(`${where}: must be a SPIFFE id pattern`);
  const segments = pattern.slice('spiffe://'.length).split('/');
  if (segments.some((seg) => seg.includes('*') && seg !== '*')) {
    throw new TokenFileError(`${where}: "${pattern}": * must stand for a whole segment`);
  }
  const parsed = parseSpiffeId('spiffe://' + segments.map((seg) => (seg === '*' ? 'x' : seg)).join('/'));
  if (typeof parsed === 'string') throw new TokenFileError(`${where}: "${pattern}" must have the form spiffe://<td>/ns/<ns>/sa/<sa>`);
  return pattern;
}

function checkEntry(entry: unknown, i: number): [string, TokenGrant] {
  const where = `entry ${i + 1}`;
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new TokenFileError(`${where}: must be a mapping`);
  const { token, identity, impersonate, expires, ...rest } = entry as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new TokenFileError(`${where}: unknown field ${unknown.join(', ')}`);
  if (typeof token !== 'string' || token.length < 16) throw new TokenFileError(`${where}: token must be a string of at least 16 characters`);
  if (typeof identity !== 'string' || typeof parseSpiffeId(identity) === 'string') {
    throw new TokenFileError(`${where}: identity must be a SPIFFE id spiffe://<td>/ns/<ns>/sa/<sa>`);
  }
  if (impersonate !== undefined && !Array.isArray(impersonate)) throw new TokenFileError(`${where}: impersonate must be a list`);
  const patterns = (impersonate ?? []).map((p, j) => checkPattern(p, `${where}.impersonate[${j}]`));
  // YAML reads an unquoted timestamp as a Date; a quoted one stays a string.
  const expiresAt = expires instanceof Date ? expires.getTime() : typeof expires === 'string' ? Date.parse(expires) : expires === undefined ? undefined : NaN;
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) throw new TokenFileError(`${where}: expires must be an RFC 3339 time such as 2026-01-02T15:04:05Z`);
  return [digest(token), { identity: identity as SpiffeId, impersonate: patterns, ...(expiresAt === undefined ? {} : { expiresAt }) }];
}

export class TokenTable {
  private constructor(private readonly grants: ReadonlyMap<string, TokenGrant>) {}

  static empty(): TokenTable {
    return new TokenTable(new Map());
  }

  static parse(text: string, file: string): TokenTable {
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (err) {
      throw new TokenFileError(`${file}: not YAML (${(err as Error).message})`);
    }
    if (doc === null || doc === undefined) return TokenTable.empty();
    if (!Array.isArray(doc)) throw new TokenFileError(`${file}: must be a list of {token, identity, impersonate}`);
    const grants = new Map<string, TokenGrant>();
    doc.forEach((entry, i) => {
      try {
        const [key, grant] = checkEntry(entry, i);
        if (grants.has(key)) throw new TokenFileError(`entry ${i + 1}: duplicate token`);
        grants.set(key, grant);
      } catch (err) {
        throw new TokenFileError(`${file}: ${(err as Error).message}`);
      }
    });
    return new TokenTable(grants);
  }

  static load(file: string): TokenTable {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TokenFileError(`cannot read tokens file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return TokenTable.parse(text, file);
  }

  get size(): number {
    return this.grants.size;
  }

  /** The grant of a token that is known and not expired. */
  lookup(token: string, now = Date.now()): TokenGrant | undefined {
    const grant = this.grants.get(digest(token));
    return grant && (grant.expiresAt === undefined || now < grant.expiresAt) ? grant : undefined;
  }
}

/** Whether `id` matches `pattern` segment by segment, `*` standing for exactly one whole segment. */
export function matchesPattern(pattern: string, id: string): boolean {
  const p = pattern.slice('spiffe://'.length).split('/');
  const s = id.slice('spiffe://'.length).split('/');
  if (!pattern.startsWith('spiffe://') || !id.startsWith('spiffe://') || p.length !== s.length) return false;
  return p.every((seg, i) => seg === '*' ? s[i] !== '' : seg === s[i]);
}

/**
 * The tokens file, re-read when it changes (checked at most once a second, on lookup), so a
 * grant added by `meshnode vm bootstrap` works without restarting the CA. A changed file that
 * does not load is logged and the table read last keeps serving.
 */
export class WatchedTokenTable {
  private table: TokenTable;
  private stamp: string;
  private checkedAt = Date.now();

  constructor(private readonly file: string, private readonly onError: (err: Error) => void) {
    this.table = TokenTable.load(file);
    this.stamp = this.statStamp();
  }

  private statStamp(): string {
    try {
      const s = statSync(this.file);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }

  get size(): number {
    return this.table.size;
  }

  lookup(token: string, now = Date.now()): TokenGrant | undefined {
    if (now - this.checkedAt >= 1_000) {
      this.checkedAt = now;
      const stamp = this.statStamp();
      if (stamp !== this.stamp) {
        this.stamp = stamp;
        try {
          this.table = TokenTable.load(this.file);
        } catch (err) {
          this.onError(err as Error);
        }
      }
    }
    return this.table.lookup(token, now);
  }
}
