import { GrpcError, Status } from './status.js';

/**
 * gRPC's length-prefixed messages: a flag byte (1 = compressed), a 4-byte big-endian length,
 * the message. The agent never asks for compression, so a compressed message is a protocol
 * error; a declared length over the limit fails the call before any of it is buffered.
 */
const PREFIX = 5;

export function frameMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, PREFIX);
  return out;
}

/** Cuts the DATA of a response into messages, whatever the DATA frames' boundaries. */
export class MessageReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  /** Length of the message being read, once its prefix is in. */
  private want: number | undefined;

  constructor(private readonly maxMessageBytes: number) {}

  /** Adds `chunk`; returns the messages it completed. Throws GrpcError on a compressed or oversized message. */
  push(chunk: Buffer): Buffer[] {
    this.parts.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.want === undefined) {
        if (this.buffered < PREFIX) return out;
        const head = this.take(PREFIX);
        if (head[0] !== 0) throw new GrpcError(Status.INTERNAL, head[0] === 1 ? 'compressed message, though no compression was negotiated' : `message flag ${head[0]} is not defined`);
        const length = head.readUInt32BE(1);
        if (length > this.maxMessageBytes) throw new GrpcError(Status.RESOURCE_EXHAUSTED, `message of ${length} bytes is over the limit of ${this.maxMessageBytes}`);
        this.want = length;
      }
      if (this.buffered < this.want) return out;
      out.push(this.take(this.want));
      this.want = undefined;
    }
  }

  /** Whether bytes of an unfinished message are held (the response ended mid-message). */
  get partial(): boolean {
    return this.buffered > 0 || this.want !== undefined;
  }

  private take(n: number): Buffer {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.buffered);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.parts = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return head;
  }
}
