import { editDistance } from '../config/field-reader.js';

/**
 * The candidate closest to what was typed, when it is close enough to be a typo (at most a third
 * of the word, and at least one edit, wrong); a prefix of a candidate also counts.
 */
export function closest(typed: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = typed.length >= 2 && c.startsWith(typed) ? 0.5 : editDistance(typed, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(typed.length / 3)) ? best : undefined;
}
