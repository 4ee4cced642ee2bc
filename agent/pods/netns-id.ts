import { statSync } from 'node:fs';
import { netnsIdOf } from '../net/index.js';

/** The id of the namespace a path names now, undefined when it names nothing. */
export function currentNetnsId(path: string): string | undefined {
  try {
    return netnsIdOf(statSync(path));
  } catch {
    return undefined;
  }
}
