import type { H2Session } from '../h2/index.js';

/**
 * Dead-peer detection on an HBONE session (both ends): PING `intervalMs` after start and after
 * each PONG; no PONG within `timeoutMs` tears the session down. A peer behind a partition, or
 * one that stopped reading, never answers, so without this its session would hold its socket
 * and streams forever.
 */
export interface KeepaliveTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export const DEFAULT_KEEPALIVE: KeepaliveTiming = { intervalMs: 10_000, timeoutMs: 20_000 };

/**
 * Starts the probe; returns a stop function. `onDead` runs at most once, and only while the
 * session is still open: destroying a session cancels its outstanding PING, and that callback
 * must not report the session dead a second time (its handler would act on a destroyed session).
 */
export function keepSessionAlive(session: H2Session, onDead: () => void,
  timing: KeepaliveTiming = DEFAULT_KEEPALIVE): () => void {
  let timer: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    clearTimeout(deadline);
  };
  const dead = () => {
    if (stopped) return;
    stop();
    if (!session.destroyed) onDead();
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(probe, timing.intervalMs);
    timer.unref();
  };
  const probe = () => {
    if (stopped || session.destroyed || session.closed) return;
    deadline = setTimeout(dead, timing.timeoutMs);
    deadline.unref();
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      // A PING cancelled because the session went away for another reason is no dead peer.
      if (err) { if (session.destroyed) stop(); else dead(); } else schedule();
    });
    if (!sent) { clearTimeout(deadline); schedule(); }
  };
  schedule();
  session.once('close', stop);
  return stop;
}
