import type { SourceDoc } from '../../config/documents.js';
import type { Problems } from '../../config/problems.js';

/**
 * Strict reading of one document: every unknown field and every wrongly typed value becomes a
 * problem naming its path. Security objects must never have a typo silently ignored
 * (CVE-2022-21679: a misspelled `notPorts` widened a DENY).
 */
export class FieldReader {
  constructor(readonly doc: SourceDoc, private readonly problems: Problems) {}

  error(path: string, message: string): void {
    this.problems.error({ ...this.doc.location, line: this.doc.lineOf(path) }, path, message);
  }

  warn(path: string, message: string): void {
    this.problems.warn({ ...this.doc.location, line: this.doc.lineOf(path) }, path, message);
  }

  /** The value as an object whose keys are all in `known`; undefined (with a problem) otherwise. */
  object(value: unknown, path: string, known: readonly string[]): Record<string, unknown> | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.error(path, `must be an object, got ${describe(value)}`);
      return undefined;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!known.includes(key)) this.error(join(path, key), unknownFieldMessage(key, known));
    }
    return record;
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

  /** An optional list of non-empty strings; bad entries are reported and dropped. */
  strings(value: unknown, path: string): string[] {
    const out: string[] = [];
    this.list(value, path).forEach((item, i) => {
      if (typeof item !== 'string') this.error(`${path}[${i}]`, `must be a string, got ${describe(item)}`);
      else if (item === '') this.error(`${path}[${i}]`, 'empty value not allowed');
      else out.push(item);
    });
    return out;
  }

  optionalString(value: unknown, path: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.error(path, `must be a string, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** A string → string map (labels, annotations, matchLabels). */
  stringMap(value: unknown, path: string): Record<string, string> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.error(path, `must be a map of strings, got ${describe(value)}`);
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v === 'string') out[k] = v;
      else this.error(join(path, k), `must be a string, got ${describe(v)}`);
    }
    return out;
  }
}

export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function unknownFieldMessage(key: string, known: readonly string[]): string {
  const close = known.find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  const hint = close ? `; did you mean "${close}"?` : `; known fields: ${known.join(', ')}`;
  return `unknown field "${key}"${hint}`;
}

function editDistance(a: string, b: string): number {
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
