import { chainRules, type SavedTable } from './saved-rules.js';

/**
 * A ruleset of our own chains, as both programs that install rules (the CNI plugin in a pod's
 * netns, the agent in host mode) write, re-apply and verify it. Every rule is kept in the
 * canonical form `iptables-save` prints, so the same strings serve to restore and to compare.
 */

/** One table's part of the ruleset: our chains, the jumps into them, and the chains' rules. */
export interface TableRules {
  readonly table: string;
  readonly chains: readonly string[];
  /** `-A <builtin> ... -j <ours>` lines. */
  readonly jumps: readonly string[];
  /** `-A <ours> ...` lines, in order. */
  readonly rules: readonly string[];
}

/**
 * `iptables-restore --noflush` input: declaring a chain creates it, or flushes it if it exists.
 * `present` counts the jumps already there (key `<table> <jump>`): a missing jump is added, extra
 * copies are deleted, so the result has exactly one of each whatever state it starts from.
 */
export function restoreText(tables: readonly TableRules[], present: ReadonlyMap<string, number> = new Map()): string {
  const out: string[] = [];
  for (const t of tables) {
    out.push(`*${t.table}`, ...t.chains.map((c) => `:${c} - [0:0]`));
    for (const j of t.jumps) {
      const copies = present.get(`${t.table} ${j}`) ?? 0;
      if (copies === 0) out.push(j);
      for (let i = 1; i < copies; i++) out.push(j.replace(/^-A /, '-D '));
    }
    out.push(...t.rules, 'COMMIT');
  }
  return out.join('\n') + '\n';
}

/** How many copies of each of our jumps are present, so a re-apply neither adds nor keeps duplicates. */
export function presentJumps(tables: readonly TableRules[], saved: ReadonlyMap<string, SavedTable>): Map<string, number> {
  const present = new Map<string, number>();
  for (const t of tables) {
    const rules = saved.get(t.table)?.rules ?? [];
    for (const j of t.jumps) present.set(`${t.table} ${j}`, rules.filter((r) => r === j).length);
  }
  return present;
}

/**
 * Removal of `chains` (and every jump into them) as one restore, built from what is actually
 * present, so it never fails on a rule already gone; undefined when there is nothing to remove.
 */
export function removalText(saved: ReadonlyMap<string, SavedTable>, chains: readonly string[], tables: readonly string[]): string | undefined {
  const lines: string[] = [];
  for (const table of tables) {
    const t = saved.get(table);
    if (!t) continue;
    const jumps = t.rules.filter((r) => chains.some((c) => r.endsWith(` -j ${c}`)) && !chains.some((c) => r.startsWith(`-A ${c} `)));
    const present = chains.filter((c) => t.chains.has(c));
    if (jumps.length === 0 && present.length === 0) continue;
    lines.push(`*${table}`, ...jumps.map((j) => j.replace(/^-A /, '-D ')), ...present.map((c) => `-F ${c}`), ...present.map((c) => `-X ${c}`), 'COMMIT');
  }
  return lines.length > 0 ? lines.join('\n') + '\n' : undefined;
}

/**
 * What is missing or different from the expected tables ([] = all present). Chains are compared
 * rule by rule in order, so a deleted or reordered rule is caught; `tool` names the source.
 */
export function rulesetProblems(tables: readonly TableRules[], saved: ReadonlyMap<string, SavedTable>, tool: string): string[] {
  const problems: string[] = [];
  for (const t of tables) {
    const have = saved.get(t.table);
    for (const j of t.jumps) if (!have?.rules.includes(j)) problems.push(`${tool}: ${t.table} is missing "${j}"`);
    for (const chain of t.chains) {
      const want = t.rules.filter((r) => r.startsWith(`-A ${chain} `));
      const got = chainRules(have, chain);
      if (want.join('\n') !== got.join('\n')) {
        const missing = want.filter((w) => !got.includes(w));
        problems.push(`${tool}: ${t.table} ${chain} differs from the expected rules` +
          (missing.length > 0 ? ` (missing "${missing.join('", "')}")` : ' (order or extra rules)'));
      }
    }
  }
  return problems;
}
