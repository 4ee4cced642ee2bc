import { escapeControl, formatProblem, placeOf, type Problem } from './problems.js';

/** One warning as it repeats across a config: the same field and message, at `count` places. */
export interface WarningGroup {
  readonly first: Problem;
  readonly count: number;
  /** The first few places after the first, to find the rest from. */
  readonly alsoAt: readonly string[];
}

/** Places named after the first one of a group. */
const EXAMPLES = 3;

/**
 * Warnings grouped by field path and message, in order of first appearance. A generated config
 * can repeat one warning for every object (100,000 skipped Deployments); one line each would
 * flood the log at every reload and hide the one warning that differs.
 */
export function groupWarnings(problems: readonly Problem[]): WarningGroup[] {
  const groups = new Map<string, { first: Problem; count: number; alsoAt: string[] }>();
  for (const p of problems) {
    if (p.severity !== 'warning') continue;
    const key = `${p.path}\u0000${p.message}`;
    const group = groups.get(key);
    if (!group) groups.set(key, { first: p, count: 1, alsoAt: [] });
    else if (group.count++ <= EXAMPLES) group.alsoAt.push(placeOf(p.location));
  }
  return [...groups.values()];
}

/** A group as one line: the first warning, then `(and N more: place, place, ...)`. */
export function formatWarningGroup(g: WarningGroup): string {
  if (g.count === 1) return formatProblem(g.first);
  const more = g.count - 1 > g.alsoAt.length ? ', ...' : '';
  return `${formatProblem(g.first)}${escapeControl(` (and ${g.count - 1} more: ${g.alsoAt.join(', ')}${more})`)}`;
}
