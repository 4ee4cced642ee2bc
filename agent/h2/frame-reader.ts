import { DEFAULT_FRAME_SIZE, ErrorCode, FRAME_HEADER, Flag, FrameType, H2Error } from './wire.js';

/**
 * Splits the bytes of a connection into frames. Control frames are handed over whole; DATA is
 * handed over as it arrives, one piece per read at most, so a payload reaches the application in
 * the pieces the TLS layer delivered (views of its buffers, no copy, never waiting for the rest
 * of a large frame). A frame longer than the advertised maximum is a connection error, found
 * from its header before its payload is read.
 */
export interface FrameSink {
  /** A complete frame other than DATA; `payload` is a view that is valid only during the call. */
  onFrame(type: number, flags: number, stream: number, payload: Buffer): void;
  /** A DATA frame begins; `length` is its whole payload, padding included (flow control counts it). */
  onDataStart(stream: number, flags: number, length: number): void;
  /** A piece of the DATA payload, padding removed. */
  onData(stream: number, piece: Buffer): void;
  /** The DATA frame ended (`flags` are its header's). */
  onDataEnd(stream: number, flags: number): void;
}

export class FrameReader {
  /** Bytes of an incomplete frame header or control frame, and how many are needed. */
  private stash: Buffer[] = [];
  private stashed = 0;
  private need = FRAME_HEADER;
  /** The DATA frame being read: its stream and flags, what is left of data and padding. */
  private dataStream = 0;
  private dataFlags = 0;
  private dataLeft = -1;
  private padLeft = 0;
  private awaitPadLength = false;
  /** A control frame whose header was read and whose payload is being collected. */
  private header: { type: number; flags: number; stream: number } | undefined;

  constructor(private readonly sink: FrameSink, public maxFrameSize = DEFAULT_FRAME_SIZE) {}

  feed(chunk: Buffer): void {
    let buf = chunk;
    let at = 0;
    while (at < buf.length) {
      if (this.dataLeft >= 0) {
        at = this.readData(buf, at);
        continue;
      }
      if (this.stashed > 0 || buf.length - at < this.need) {
        const take = Math.min(this.need - this.stashed, buf.length - at);
        this.stash.push(buf.subarray(at, at + take));
        this.stashed += take;
        at += take;
        if (this.stashed < this.need) return;
        // Complete: continue on the joined bytes, then on what is left of the chunk.
        const joined = this.stash.length === 1 ? this.stash[0]! : Buffer.concat(this.stash, this.stashed);
        this.stash = [];
        this.stashed = 0;
        this.step(joined, 0);
        continue;
      }
      at = this.step(buf, at);
    }
  }

  /** One header or one control payload from `buf` at `at`, which holds at least `need` bytes. */
  private step(buf: Buffer, at: number): number {
    if (this.header === undefined) {
      const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
      const type = buf[at + 3]!;
      const flags = buf[at + 4]!;
      const stream = buf.readUInt32BE(at + 5) & 0x7fffffff;
      at += FRAME_HEADER;
      if (length > this.maxFrameSize) {
        throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes (type ${type}) exceeds the maximum ${this.maxFrameSize}`);
      }
      if (type === FrameType.DATA) {
        this.sink.onDataStart(stream, flags, length);
        this.dataStream = stream;
        this.dataFlags = flags;
        this.awaitPadLength = (flags & Flag.PADDED) !== 0;
        this.dataLeft = this.awaitPadLength ? length - 1 : length;
        this.padLeft = 0;
        if (this.awaitPadLength && length === 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'padded DATA frame without a pad length');
        if (!this.awaitPadLength && length === 0) this.endData();
        return at;
      }
      this.header = { type, flags, stream };
      this.need = length;
      if (length > 0) return at;
    }
    const { type, flags, stream } = this.header;
    const payload = buf.subarray(at, at + this.need);
    at += this.need;
    this.header = undefined;
    this.need = FRAME_HEADER;
    this.sink.onFrame(type, flags, stream, payload);
    return at;
  }

  private readData(buf: Buffer, at: number): number {
    if (this.awaitPadLength) {
      const pad = buf[at++]!;
      this.awaitPadLength = false;
      if (pad > this.dataLeft) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `DATA padding of ${pad} bytes is longer than the frame`);
      this.dataLeft -= pad;
      this.padLeft = pad;
    }
    const n = Math.min(this.dataLeft, buf.length - at);
    if (n > 0) {
      this.sink.onData(this.dataStream, buf.subarray(at, at + n));
      this.dataLeft -= n;
      at += n;
    }
    if (this.dataLeft === 0) {
      const skip = Math.min(this.padLeft, buf.length - at);
      this.padLeft -= skip;
      at += skip;
      if (this.padLeft === 0) this.endData();
    }
    return at;
  }

  private endData(): void {
    this.dataLeft = -1;
    this.sink.onDataEnd(this.dataStream, this.dataFlags);
  }
}
