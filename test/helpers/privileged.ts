import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { missingTools } from './tools.js';

export { missingTools };

/**
 * Privileged tests need root (network namespaces, iptables). When not root they are registered as
 * skipped with the reason in the title, so a run as a normal user shows them as skipped — never as
 * passed.
 */
export const isRoot = process.getuid?.() === 0;

export function privilegedTest(title: string, fn: (t: ExecutionContext) => Promise<void>, tools: string[] = ['ip']): void {
  if (!isRoot) {
    test.skip(`${title} [skipped: requires root]`, () => {});
    return;
  }
  const missing = missingTools(tools);
  if (missing.length > 0) {
    test.skip(`${title} [skipped: missing ${missing.join(', ')}]`, () => {});
    return;
  }
  test.serial(title, fn);
}

/** A short name unique to this run: Linux interface names are limited to 15 characters. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`.slice(0, 15);
}
