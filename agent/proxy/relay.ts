import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';

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

type End = net.Socket | http2.Http2Stream;

function isStream(end: End): end is http2.Http2Stream {
  return !(end instanceof net.Socket);
}

/** Tears an end down abruptly: RST for TCP, RST_STREAM(INTERNAL_ERROR) for HBONE. */
export function resetEnd(end: End): void {
  if (end.destroyed) return;
  if (isStream(end)) {
    end.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  } else {
    end.resetAndDestroy();
  }
}

const EOF_CODES: ReadonlySet<number> = new Set([http2.constants.NGHTTP2_NO_ERROR, http2.constants.NGHTTP2_CANCEL]);

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
  a.on('data', (chunk: Buffer) => { aToB += chunk.length; });
  b.on('data', (chunk: Buffer) => { bToA += chunk.length; });
  (a as Duplex).pipe(b as Duplex);
  (b as Duplex).pipe(a as Duplex);
  return new Promise((resolve) => {
    let open = 2;
    const closed = (end: End, other: End) => () => {
      if (isStream(end) && !error && end.rstCode !== undefined && !EOF_CODES.has(end.rstCode)) {
        fail(new Error(`hbone stream reset by peer (code ${end.rstCode})`));
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
