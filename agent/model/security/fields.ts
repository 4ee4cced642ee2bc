import { DocReader, closestField, describe, joinPath } from '../../config/field-reader.js';

/**
 * Strict reading of one document: every unknown field and every wrongly typed value becomes a
 * problem naming its path. Security objects must never have a typo silently ignored
 * (CVE-2022-21679: a misspelled `notPorts` widened a DENY).
 */
export class FieldReader extends DocReader {
  /** The value as an object whose keys are all in `known`; undefined (with a problem) otherwise. */
  object(value: unknown, path: string, known: readonly string[]): Record<string, unknown> | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.error(path, `must be an object, got ${describe(value)}`);
      return undefined;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!known.includes(key)) this.error(joinPath(path, key), unknownFieldMessage(key, known));
    }
    return record;
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
      else this.error(joinPath(path, k), `must be a string, got ${describe(v)}`);
    }
    return out;
  }
}

function unknownFieldMessage(key: string, known: readonly string[]): string {
  const close = closestField(key, known);
  const hint = close ? `; did you mean "${close}"?` : `; known fields: ${known.join(', ')}`;
  return `unknown field "${key}"${hint}`;
}
