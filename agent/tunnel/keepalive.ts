import type http2 from 'node:http2';

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

/** Starts the probe; returns a stop function. */
export function keepSessionAlive(session: http2.Http2Session, onDead: () => void,
  timing: KeepaliveTiming = DEFAULT_KEEPALIVE): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(probe, timing.intervalMs);
    timer.unref();
  };
  const probe = () => {
    if (stopped || session.destroyed || session.closed) return;
    const deadline = setTimeout(() => { if (!stopped) onDead(); }, timing.timeoutMs);
    deadline.unref();
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      if (err) { if (!stopped) onDead(); } else schedule();
    });
    if (!sent) { clearTimeout(deadline); schedule(); }
  };
  schedule();
  const stop = () => { stopped = true; if (timer) clearTimeout(timer); };
  session.once('close', stop);
  return stop;
}
