import { readMetadata } from './metadata.js';
import type { ParsedNamespace } from './parsed.js';
import type { ObjectReader } from './reader.js';

/** v1 Namespace: only its name and labels matter (the ambient enrolment label). */
export function parseNamespace(r: ObjectReader): ParsedNamespace | undefined {
  const meta = readMetadata(r, false);
  if (!meta) return undefined;
  return { kind: 'Namespace', location: r.doc.location, lineOf: r.doc.lineOf, name: meta.name, namespace: '', labels: meta.labels };
}
