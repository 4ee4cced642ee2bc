/**
 * Config problems are collected, never thrown one at a time: a user fixing a config wants every
 * mistake in one pass. Each problem names the file, document index and line, the object
 * (kind namespace/name) and the field path.
 */
export type Severity = 'error' | 'warning';

/** Where an object came from. */
export interface DocLocation {
  readonly file: string;
  /** 0-based index of the YAML document in its file. */
  readonly index: number;
  /** 1-based line where the document (or the field, when known) starts. */
  readonly line: number;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface Problem {
  readonly severity: Severity;
  readonly location: DocLocation;
  /** Dotted field path, e.g. `spec.rules[0].from[1].source.principals`; '' for the whole object. */
  readonly path: string;
  readonly message: string;
}

export class Problems {
  readonly list: Problem[] = [];

  error(location: DocLocation, path: string, message: string): void {
    this.list.push({ severity: 'error', location, path, message });
  }

  warn(location: DocLocation, path: string, message: string): void {
    this.list.push({ severity: 'warning', location, path, message });
  }

  get errors(): Problem[] {
    return this.list.filter((p) => p.severity === 'error');
  }

  get warnings(): Problem[] {
    return this.list.filter((p) => p.severity === 'warning');
  }
}

/**
 * `file:line (doc N) Kind ns/name: path: message` — one line, grep-friendly. Names, kinds and
 * values come from the config as written, so control characters are escaped: a name holding a
 * newline must not print a second, forged problem line.
 */
export function formatProblem(p: Problem): string {
  const l = p.location;
  const object = l.kind ? ` ${l.kind} ${l.namespace ? l.namespace + '/' : ''}${l.name || '<unnamed>'}` : '';
  const where = p.path ? `${p.path}: ` : '';
  return escapeControl(`${placeOf(l)}${object}: ${p.severity}: ${where}${p.message}`);
}

/** `file:line (document N)`, to name a place in a problem message. */
export function placeOf(l: DocLocation): string {
  return `${l.file}:${l.line} (document ${l.index})`;
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** C0 and C1 controls and the Unicode line separators, as `\n` or `\u0085`. */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
