import { parseDocument, type LineCounter, type Document, type Node } from 'yaml';

/**
 * Lines of field paths for documents whose syntax trees were not kept: the document's text is
 * parsed again when a problem asks. Problems come document by document, so the last tree is kept
 * for the next question and no more than one tree is ever held.
 */
export function reparser(text: string, fileLines: LineCounter): (index: number, start: number, end: number, path: string) => number | undefined {
  let cached: { index: number; start: number; doc: Document } | undefined;
  return (index, start, end, path) => {
    if (cached?.index !== index) cached = { index, start, doc: parseDocument(text.slice(start, end), { prettyErrors: false, uniqueKeys: false }) };
    const offset = offsetOfPath(cached.doc, path);
    return offset === undefined ? undefined : fileLines.linePos(cached.start + offset).line;
  };
}

function offsetOfPath(doc: Document, path: string): number | undefined {
  const keys = path.split(/\.|\[(\d+)\]/).filter((k) => k !== undefined && k !== '').map((k) => (/^\d+$/.test(k) ? Number(k) : k));
  const node = doc.getIn(keys, true) as Node | undefined;
  const range = node && typeof node === 'object' && 'range' in node ? node.range : undefined;
  return range?.[0];
}
