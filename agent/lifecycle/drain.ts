import type { Logger } from '../telemetry/log.js';

/** Something that stops during a drain: `close()` gracefully, `destroy()` when the deadline passed. */
export interface Drainable {
  readonly name: string;
  close(): Promise<void>;
  destroy?(): void;
}

/** Default drain deadline (ztunnel's default when no termination grace period is known). */
export const DEFAULT_DRAIN_DEADLINE_MS = 5_000;

/**
 * Closes every component in parallel; those still busy at the deadline are destroyed (their
 * connections force-closed) and a warning names them. Never rejects: a failing close is logged.
 */
export async function drainAll(items: readonly Drainable[], deadlineMs: number, log: Logger): Promise<{ overran: string[] }> {
  const done = new Set<string>();
  const closing = items.map((item) => item.close()
    .catch((err: unknown) => log.warn('error while draining', { component: item.name, error: err }))
    .finally(() => done.add(item.name)));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => { timer = setTimeout(() => resolve('deadline'), deadlineMs); });
  const outcome = await Promise.race([Promise.all(closing).then(() => 'done' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'done') return { overran: [] };
  const overran = items.filter((i) => !done.has(i.name));
  log.warn('drain overran its deadline; force-closing', { deadlineMs, components: overran.map((i) => i.name) });
  for (const item of overran) {
    try {
      item.destroy?.();
    } catch (err) {
      log.warn('error while force-closing', { component: item.name, error: err });
    }
  }
  return { overran: overran.map((i) => i.name) };
}
