/** Reads `iptables-save` output: per table, the chains that exist and the `-A` lines in order. */
export interface SavedTable {
  readonly chains: Set<string>;
  readonly rules: string[];
}

export function parseIptablesSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      current = { chains: new Set(), rules: [] };
      tables.set(line.slice(1), current);
    } else if (current && line.startsWith(':')) {
      current.chains.add(line.slice(1).split(' ')[0]!);
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line);
    }
  }
  return tables;
}

/** The `-A` lines of one chain, in order. */
export function chainRules(table: SavedTable | undefined, chain: string): string[] {
  return table ? table.rules.filter((r) => r.startsWith(`-A ${chain} `)) : [];
}
