import { Duplex } from 'node:stream';
import type { H2Session } from './session.js';
import { ErrorCode } from './wire.js';

/** Header fields as the session hands them over: names lowercase, repeated fields joined by ", ". */
export type H2Headers = Record<string, string>;

/**
 * One HTTP/2 stream as a Duplex: what the peer sends in DATA frames is readable, what is written
 * goes out as DATA frames as flow control allows, `end()` sends END_STREAM. The session does the
 * framing and the windows; the stream keeps its state and hands its calls to the session.
 *
 * `close` comes once the stream is done: both sides ended, a reset either way, or the session
 * gone. `rstCode` is then set (NO_ERROR for a finished exchange). A reset by the peer with a code
 * other than NO_ERROR or CANCEL, and the session's death, destroy the stream with an error.
 */
export class H2Stream extends Duplex {
  rstCode: number | undefined;
  /** Whether the response HEADERS were sent (server) or received (client). */
  headersSent = false;
  /** END_STREAM sent (`localEnded`) and received (`remoteEnded`). */
  localEnded = false;
  remoteEnded = false;
  /** Set once the stream left the session's table (closed on the wire). */
  done = false;
  /** The session ended while the stream was open: whatever it carried was cut, not finished. */
  aborted = false;
  /**
   * Flow control: what we may send; what the peer may still send; what was handed to the reader
   * and not taken yet (`unacked`); what was taken and not yet credited back to the peer.
   */
  sendWindow: number;
  recvWindow: number;
  unacked = 0;
  consumed = 0;
  /** A write waiting for window: what is left of its buffers, END_STREAM after them, its callback. */
  pending: { bufs: Buffer[]; end: boolean; cb: (err?: Error | null) => void } | undefined;

  constructor(readonly session: H2Session, readonly id: number, sendWindow: number, recvWindow: number) {
    // A write of the usual 64 KB socket read fits under the mark, so `pipe` need not pause the
    // source for every read; the session's own limit on the socket's buffer is the backpressure.
    super({ allowHalfOpen: true, writableHighWaterMark: 256 * 1024, readableHighWaterMark: 64 * 1024 });
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** Server side: sends the response HEADERS. */
  respond(headers: H2Headers, opts: { endStream?: boolean } = {}): void {
    this.session.respond(this, headers, opts.endStream === true);
  }

  /** Resets the stream with `code` (RST_STREAM) and destroys it without an error. */
  close(code: number = ErrorCode.NO_ERROR): void {
    if (!this.done) this.session.reset(this, code);
    this.destroy();
  }

  override _read(): void {
    this.session.credit(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.session.send(this, [chunk], false, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.session.send(this, chunks.map((c) => c.chunk), false, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.session.send(this, [], true, cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Not finished on the wire: the peer is told, with INTERNAL_ERROR for a failure.
    if (!this.done) this.session.reset(this, err ? ErrorCode.INTERNAL_ERROR : ErrorCode.CANCEL);
    cb(err);
  }
}
