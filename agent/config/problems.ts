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

/** `file:line (doc N) Kind ns/name: path: message` — one line, grep-friendly. */
export function formatProblem(p: Problem): string {
  const l = p.location;
  const object = l.kind ? ` ${l.kind} ${l.namespace ? l.namespace + '/' : ''}${l.name || '<unnamed>'}` : '';
  const where = p.path ? `${p.path}: ` : '';
  return `${l.file}:${l.line} (document ${l.index})${object}: ${p.severity}: ${where}${p.message}`;
}
