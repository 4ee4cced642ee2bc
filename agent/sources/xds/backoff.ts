import * as grpc from '@grpc/grpc-js';

/** Stream retry timing, as ztunnel does it: 10 ms doubling to 15 s, with ±20 % jitter so a fleet restarting together does not reconnect in lockstep. */

export const INITIAL_BACKOFF_MS = 10;
const MAX_BACKOFF_MS = 15_000;

export function nextDelay(previousMs: number): number {
  const doubled = Math.min(MAX_BACKOFF_MS, previousMs * 2);
  return Math.round(doubled * (0.8 + Math.random() * 0.4));
}

/**
 * istiod ends every stream after its MaxConnectionAge (30 min by default) and on restart; those
 * arrive as these statuses and are routine, so they reconnect at once and log at info.
 */
export function isRecycle(err: grpc.ServiceError): boolean {
  switch (err.code) {
    case grpc.status.UNKNOWN:
    case grpc.status.CANCELLED:
    case grpc.status.DEADLINE_EXCEEDED:
      return true;
    case grpc.status.UNAVAILABLE:
      return /transport is closing|received prior goaway|GOAWAY/i.test(err.details ?? '');
    default:
      return false;
  }
}
