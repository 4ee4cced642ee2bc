import type { SourceDoc } from '../../config/documents.js';
import { CONFIG_LIMITS, describeLimit } from '../../config/limits.js';
import type { Problems } from '../../config/problems.js';

/**
 * `kubectl get ... -o yaml` prints `kind: List` (or `PodList`, ...) with the objects in `items`.
 * Each item becomes a document of its own whose field lines point into the list.
 */
export function expandLists(docs: readonly SourceDoc[], problems: Problems): SourceDoc[] {
  const out = docs.flatMap((doc) => (isList(doc) ? listItems(doc, problems) : [doc]));
  const over = out[CONFIG_LIMITS.documents];
  if (over) {
    problems.error(over.location, '', `too many objects (documents and list items), over the limit of ${describeLimit('documents')}`);
    return out.slice(0, CONFIG_LIMITS.documents);
  }
  return out;
}

function isList(doc: SourceDoc): boolean {
  return doc.apiVersion === 'v1' && doc.kind.endsWith('List');
}

function listItems(doc: SourceDoc, problems: Problems): SourceDoc[] {
  const items = doc.body.items ?? [];
  if (!Array.isArray(items)) {
    problems.error({ ...doc.location, line: doc.lineOf('items') }, 'items', 'must be a list');
    return [];
  }
  return items.flatMap((item: unknown, i): SourceDoc[] => {
    const prefix = `items[${i}]`;
    const line = doc.lineOf(prefix);
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      problems.error({ ...doc.location, line }, prefix, 'must be a Kubernetes object');
      return [];
    }
    const body = item as Record<string, unknown>;
    // kubectl never nests lists; skipping the inner one's objects unread could drop a policy.
    if (body.apiVersion === 'v1' && typeof body.kind === 'string' && body.kind.endsWith('List')) {
      problems.error({ ...doc.location, line }, prefix, 'a list inside a list is not supported; put its items in the outer list');
      return [];
    }
    const meta = (typeof body.metadata === 'object' && body.metadata !== null ? body.metadata : {}) as Record<string, unknown>;
    const kind = typeof body.kind === 'string' ? body.kind : '';
    return [{
      location: {
        ...doc.location, line, kind,
        namespace: typeof meta.namespace === 'string' ? meta.namespace : '',
        name: typeof meta.name === 'string' ? meta.name : '',
      },
      apiVersion: typeof body.apiVersion === 'string' ? body.apiVersion : '',
      kind,
      body,
      lineOf: (path) => {
        const found = doc.lineOf(path ? `${prefix}.${path}` : prefix);
        return found === doc.location.line ? line : found;
      },
    }];
  });
}
