import { Lexer } from 'yaml';

/** Generated configs at the size limits, for the memory-budget and limit tests. */

export function pod(i: number): string {
  return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-${i}\n  namespace: shop\n  labels: {app: web, version: v1}\n`
    + `  uid: 0b7e5f0c-1d2e-4f3a-9b8c-${String(i).padStart(12, '0')}\nspec:\n  nodeName: node-${i % 50}\n  serviceAccountName: web\n`
    + `  containers:\n  - name: web\n    image: registry.example.com/shop/web:1.2.3\n    ports:\n    - {name: http, containerPort: 8080}\n`
    + `status:\n  phase: Running\n  podIP: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}\n  conditions:\n  - {type: Ready, status: "True"}\n`;
}

/** YAML lexer tokens in `text`, as the config limits count them. */
export function tokenCount(text: string): number {
  let n = 0;
  for (const _ of new Lexer().lex(text)) n++;
  return n;
}

/** Pods `from`, `from + 1`, ... as separate documents, up to `tokens` tokens in all. */
export function podDocuments(from: number, tokens: number): string {
  const per = tokenCount(pod(0) + '---\n');
  return Array.from({ length: Math.floor(tokens / per) }, (_, i) => pod(from + i)).join('---\n');
}

/** One `kind: List` of pods `from`, ... with at most `tokens` tokens: one document, one syntax tree. */
export function podList(from: number, tokens: number): string {
  const item = (i: number) => pod(i).trimEnd().split('\n').map((line, j) => (j === 0 ? '- ' : '  ') + line).join('\n') + '\n';
  const per = tokenCount(item(0));
  const count = Math.floor((tokens - 20) / per);
  return `apiVersion: v1\nkind: List\nitems:\n${Array.from({ length: count }, (_, i) => item(from + i)).join('')}`;
}
