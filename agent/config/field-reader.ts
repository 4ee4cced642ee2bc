import type { SourceDoc } from './documents.js';
import type { Problems } from './problems.js';

/**
 * What the strict reader of security objects and the lenient reader of networking objects have in
 * common: problems reported at a field's line, and the type checks both make the same way. Each
 * subclass decides how unknown fields are treated (error or warning).
 */
export class DocReader {
  constructor(readonly doc: SourceDoc, private readonly problems: Problems) {}

  /** `linePath` locates the line when `path` has keys YAML paths cannot express (dotted labels). */
  error(path: string, message: string, linePath = path): void {
    this.problems.error({ ...this.doc.location, line: this.lineFor(linePath) }, path, message);
  }

  warn(path: string, message: string, linePath = path): void {
    this.problems.warn({ ...this.doc.location, line: this.lineFor(linePath) }, path, message);
  }

  /** The line a problem at `path` is reported on. */
  protected lineFor(path: string): number {
    return this.doc.lineOf(path);
  }

  /** An optional list; absent and null read as []. */
  list(value: unknown, path: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.error(path, `must be a list, got ${describe(value)}`);
      return [];
    }
    return value;
  }

  /** An optional string; undefined when absent (or wrongly typed, with an error). */
  string(value: unknown, path: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.error(path, `must be a string, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }
}

/** A value's type for a problem message: `null`, `a list`, `an object`, `number 3`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** The path of `key` inside the object at `path` (`''` is the document root). */
export function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The known field a misspelled `key` most likely meant (edit distance ≤ 2, ignoring case). */
export function closestField(key: string, known: readonly string[]): string | undefined {
  return known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
