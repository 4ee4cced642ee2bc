import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, isMap, isScalar, type Document, type Node } from 'yaml';
import { Problems, type DocLocation } from './problems.js';

/** One YAML document that looks like a Kubernetes object. */
export interface SourceDoc {
  readonly location: DocLocation;
  readonly apiVersion: string;
  readonly kind: string;
  /** The whole object as plain JSON values. */
  readonly body: Record<string, unknown>;
  /** 1-based line of a field path (`spec.rules[0]`), or the document's line when unknown. */
  lineOf(path: string): number;
}

/**
 * Largest config file read. YAML parsing runs on the agent's event loop, so an unbounded file
 * (a runaway generator, a wrong path) would stall every pod's traffic while it parses; 10,000
 * pods with services and policies are about 5 MiB.
 */
export const MAX_CONFIG_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Reads `path` (a file, or a directory whose `*.yaml`/`*.yml` files are read in name order) and
 * splits it into documents. Syntax errors, oversized files and non-object documents become
 * problems; reading stops at nothing short of an unreadable path.
 */
export async function readDocuments(path: string, problems: Problems): Promise<SourceDoc[]> {
  const files = await listFiles(path);
  const docs: SourceDoc[] = [];
  for (const file of files) {
    const { size } = await stat(file);
    if (size > MAX_CONFIG_FILE_BYTES) {
      const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
      problems.error({ file, index: 0, line: 1, kind: '', namespace: '', name: '' }, '',
        `file is ${mib(size)}, over the ${mib(MAX_CONFIG_FILE_BYTES)} limit for one config file; split it into a directory of files`);
      continue;
    }
    docs.push(...parseFile(file, await readFile(file, 'utf8'), problems));
  }
  return docs;
}

async function listFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => /\.ya?ml$/.test(n)).sort();
  return names.map((n) => join(path, n));
}

/** Parses one file's text; exported for tests and for config that arrives as a string. */
export function parseFile(file: string, text: string, problems: Problems): SourceDoc[] {
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const all = Array.isArray(parsed) ? parsed : [parsed];
  const docs: SourceDoc[] = [];
  all.forEach((doc, index) => {
    const line = doc.contents?.range ? lines.linePos(doc.contents.range[0]).line : 1;
    const base: DocLocation = { file, index, line, kind: '', namespace: '', name: '' };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        // prettyErrors is off, so linePos is unset; the offset still locates the error.
        const at = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
        problems.error({ ...base, line: at }, '', `YAML syntax: ${e.message.split('\n')[0]}`);
      }
      return;
    }
    // An empty document (`---` at the end of a file, or only comments) parses as a null scalar.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return;
    if (!isMap(doc.contents)) {
      problems.error(base, '', 'document is not a mapping (expected a Kubernetes object)');
      return;
    }
    const body = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
    const meta = (typeof body.metadata === 'object' && body.metadata !== null ? body.metadata : {}) as Record<string, unknown>;
    const location: DocLocation = {
      ...base,
      kind: typeof body.kind === 'string' ? body.kind : '',
      namespace: typeof meta.namespace === 'string' ? meta.namespace : '',
      name: typeof meta.name === 'string' ? meta.name : '',
    };
    docs.push({
      location,
      apiVersion: typeof body.apiVersion === 'string' ? body.apiVersion : '',
      kind: location.kind,
      body,
      lineOf: (path) => lineOfPath(doc, lines, path) ?? line,
    });
  });
  return docs;
}

function lineOfPath(doc: Document, lines: LineCounter, path: string): number | undefined {
  const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '').map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  const node = doc.getIn(keys, true) as Node | undefined;
  const range = node && typeof node === 'object' && 'range' in node ? node.range : undefined;
  return range ? lines.linePos(range[0]).line : undefined;
}
