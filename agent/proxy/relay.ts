import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCode, H2Stream } from '../tunnel/index.js';
import { noteRelayed } from './buffer-reclaim.js';

/**
 * The copy loop between two ends of a proxied connection: a TCP socket and either another TCP
 * socket or an HBONE stream. `pipe` gives backpressure both ways (a full writer pauses the
 * reader) without per-chunk copies. Each direction ends on its own: a FIN becomes END_STREAM and
 * END_STREAM becomes a FIN (write shutdown), so half-closed protocols keep working
 * (ztunnel#1067). An error on either end resets the other (TCP RST, or RST_STREAM), so nothing
 * ever hangs; a peer's RST_STREAM with NO_ERROR or CANCEL counts as EOF, as in ztunnel.
 */
export interface RelayResult {
  /** Bytes read from `a` and written towards `b`. */
  readonly aToB: number;
  readonly bToA: number;
  /** The first error that ended the relay; undefined for a clean close. */
  readonly error: Error | undefined;
}

type End = net.Socket | H2Stream;

function isStream(end: End): end is H2Stream {
  return end instanceof H2Stream;
}

/** Tears an end down abruptly: RST for TCP, RST_STREAM(INTERNAL_ERROR) for HBONE. */
export function resetEnd(end: End): void {
  if (end.destroyed) return;
  if (isStream(end)) {
    end.destroy(new Error('connection reset'));
  } else {
    end.resetAndDestroy();
  }
}

/** The TCP sockets under the ends (an HBONE stream's is its session's TLS socket). */
export function socketsOf(...ends: End[]): net.Socket[] {
  const out: net.Socket[] = [];
  for (const end of ends) {
    out.push(isStream(end) ? end.session.socket : end);
  }
  return out;
}

const EOF_CODES: ReadonlySet<number> = new Set([ErrorCode.NO_ERROR, ErrorCode.CANCEL]);

/**
 * Whether a stream's close was a reset rather than a finished exchange: its session died under it,
 * or a reset code other than NO_ERROR/CANCEL. A stream finished on the wire stays finished when
 * its session closes right after (a retired connection ends with its last stream).
 */
function abrupt(stream: H2Stream): boolean {
  return stream.aborted || (stream.rstCode !== undefined && !EOF_CODES.has(stream.rstCode));
}

export function relay(a: End, b: End): Promise<RelayResult> {
  for (const end of [a, b]) if (!isStream(end)) end.allowHalfOpen = true;
  let aToB = 0;
  let bToA = 0;
  let error: Error | undefined;
  const fail = (err: Error) => {
    error ??= err;
    resetEnd(a);
    resetEnd(b);
  };
  a.on('data', (chunk: Buffer) => { aToB += chunk.length; noteRelayed(chunk.length); });
  b.on('data', (chunk: Buffer) => { bToA += chunk.length; noteRelayed(chunk.length); });
  // End of input is forwarded by hand: a stream whose session died must become a reset, not a clean FIN.
  const cleanEnds = new Set<End>();
  const forwardEnd = (from: End, to: End) => () => {
    if (isStream(from) && abrupt(from)) { fail(new Error(`hbone stream reset (code ${from.rstCode ?? 'none'})`)); return; }
    cleanEnds.add(from);
    if (!to.destroyed && !to.writableEnded) to.end();
  };
  // Both directions finished cleanly: a session closing right after (GOAWAY, drain) is no reset.
  const finished = (end: End) => cleanEnds.has(end) && end.writableFinished;
  (a as Duplex).pipe(b as Duplex, { end: false });
  (b as Duplex).pipe(a as Duplex, { end: false });
  a.once('end', forwardEnd(a, b));
  b.once('end', forwardEnd(b, a));
  return new Promise((resolve) => {
    let open = 2;
    const closed = (end: End, other: End) => () => {
      if (isStream(end) && !error && !finished(end) && abrupt(end)) {
        fail(new Error(`hbone stream reset (code ${end.rstCode ?? 'none'})`));
      } else if (!other.destroyed && !other.writableEnded && !error) {
        // The peer is gone: finish what is buffered towards the other end, then close it.
        other.end();
      }
      if (--open === 0) resolve({ aToB, bToA, error });
    };
    a.on('error', fail);
    b.on('error', fail);
    a.once('close', closed(a, b));
    b.once('close', closed(b, a));
  });
}
