import { CST, Composer, Lexer, LineCounter, Parser, isMap, isScalar, type Document } from 'yaml';
import { CONFIG_LIMITS, describeLimit, type ConfigLimit } from './limits.js';
import { reparser } from './line-of-path.js';
import { Problems, type DocLocation } from './problems.js';
import { readConfigFiles } from './read-config-file.js';
import { MeshnodeError } from '../base/errors.js';
import { formatCount } from '../base/text.js';

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

/** What is left of the token and document limits while the files of one config are parsed. */
export class ParseBudget {
  tokens: number = CONFIG_LIMITS.tokens;
  documents: number = CONFIG_LIMITS.documents;
}

/**
 * Reads `path` (a file, or a directory whose `*.yaml`/`*.yml` files are read in name order) and
 * splits it into documents. Unusable files, syntax errors, limits reached and non-object
 * documents become problems; reading stops at nothing short of an unreadable path.
 */
export async function readDocuments(path: string, problems: Problems): Promise<SourceDoc[]> {
  const budget = new ParseBudget();
  const docs: SourceDoc[] = [];
  for (const { file, text } of await readConfigFiles(path, problems)) docs.push(...parseFile(file, text, problems, budget));
  return docs;
}

/** A limit was reached while lexing; parsing stops at once, before the syntax tree grows. */
class LimitReached extends MeshnodeError {
  readonly code = 'ERR_CONFIG_LIMIT';
  constructor(readonly limit: ConfigLimit, readonly document: number, readonly offset: number, detail: string) {
    super(`${detail}, over the limit of ${describeLimit(limit)}`);
  }
}

/**
 * Parses one file's text; exported for tests and for config that arrives as a string. Documents
 * are composed one at a time and only their plain values are kept: a document's syntax tree is
 * rebuilt on demand when a problem needs a field's line, so memory follows the values, not the
 * tree (which costs several times more).
 */
export function parseFile(file: string, text: string, problems: Problems, budget = new ParseBudget()): SourceDoc[] {
  const lines = new LineCounter();
  // Parser.parse() would record the first line's start; next(), used here, does not.
  lines.addNewLine(0);
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true });
  const docs: SourceDoc[] = [];
  const reparse = reparser(text, lines);
  let index = 0;
  try {
    for (const doc of composer.compose(limitedTokens(text, new Parser(lines.addNewLine), budget))) {
      if (--budget.documents < 0) throw new LimitReached('documents', index, doc.range[0], 'too many YAML documents');
      // The closure keeps the document's place, never the document: its tree is what is dropped.
      const at = index;
      const [start, , end] = doc.range;
      const source = toSourceDoc(file, at, doc, lines, problems, (path) => reparse(at, start, end, path));
      if (source) docs.push(source);
      index++;
    }
  } catch (err) {
    if (!(err instanceof LimitReached)) throw err;
    const location = { file, index: err.document, line: lines.linePos(err.offset).line, kind: '', namespace: '', name: '' };
    problems.error(location, '', err.message);
  }
  return docs;
}

/** The lexer's markers of a document, a scalar and a flow error: they take no source text. */
const CONTROL_LEXEMES = new Set(['\x02', '\x18', '\x1f']);
const NOT_CONTENT = new Set(['space', 'newline', 'comment', 'doc-mode', 'doc-start', 'doc-end']);

/**
 * CST tokens of `text`, counting lexer tokens against the limits as they are produced. The
 * composer hands a document over only once the next one has begun, so the lexer keeps its own
 * count of documents to name the one that broke a limit.
 */
function* limitedTokens(text: string, parser: Parser, budget: ParseBudget) {
  let offset = 0;
  let document = 0;
  let inDocument = 0;
  let content = false;
  for (const lexeme of new Lexer().lex(text)) {
    const type = CST.tokenType(lexeme);
    if ((type === 'doc-start' || type === 'doc-end') && content) {
      document++;
      inDocument = 0;
    }
    if (type === 'doc-start' || !NOT_CONTENT.has(type ?? '')) content = true;
    if (type === 'doc-end') content = false;
    if (lexeme.length > CONFIG_LIMITS.scalarChars) {
      throw new LimitReached('scalarChars', document, offset, `a scalar (or comment) of ${formatCount(lexeme.length)} characters`);
    }
    if (++inDocument > CONFIG_LIMITS.tokensPerDocument) {
      throw new LimitReached('tokensPerDocument', document, offset, 'too many YAML tokens in one document');
    }
    if (--budget.tokens < 0) throw new LimitReached('tokens', document, offset, 'too many YAML tokens');
    if (!CONTROL_LEXEMES.has(lexeme)) offset += lexeme.length;
    yield* parser.next(lexeme);
  }
  yield* parser.end();
}

function toSourceDoc(file: string, index: number, doc: Document.Parsed, lines: LineCounter, problems: Problems,
  lineOf: (path: string) => number | undefined): SourceDoc | undefined {
  const line = doc.contents?.range ? lines.linePos(doc.contents.range[0]).line : 1;
  const base: DocLocation = { file, index, line, kind: '', namespace: '', name: '' };
  if (doc.errors.length > 0) {
    // prettyErrors is off, so linePos is unset; the offset still locates the error.
    for (const e of doc.errors) problems.error({ ...base, line: lines.linePos(e.pos[0]).line }, '', `YAML syntax: ${e.message.split('\n')[0]}`);
    return undefined;
  }
  // An empty document (`---` at the end of a file, or only comments) parses as a null scalar.
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return undefined;
  if (!isMap(doc.contents)) {
    problems.error(base, '', 'document is not a mapping (expected a Kubernetes object)');
    return undefined;
  }
  const body = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  const meta = (typeof body.metadata === 'object' && body.metadata !== null ? body.metadata : {}) as Record<string, unknown>;
  const location: DocLocation = {
    ...base,
    kind: typeof body.kind === 'string' ? body.kind : '',
    namespace: typeof meta.namespace === 'string' ? meta.namespace : '',
    name: typeof meta.name === 'string' ? meta.name : '',
  };
  return {
    location,
    apiVersion: typeof body.apiVersion === 'string' ? body.apiVersion : '',
    kind: location.kind,
    body,
    lineOf: (path) => lineOf(path) ?? line,
  };
}
