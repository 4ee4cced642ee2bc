import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { FrameReader, type FrameSink } from './frame-reader.js';
import { messageHeaders } from './fields.js';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack.js';
import { H2Stream, type H2Headers } from './stream.js';
import {
  DEFAULT_FRAME_SIZE, DEFAULT_WINDOW, ErrorCode, FRAME_HEADER, Flag, FrameType, H2Error, MAX_STREAM_ID, MAX_WINDOW,
  PREFACE, Setting, codeName, frame, goawayFrame, headersFrames, settingsFrame, u32Frame, writeFrameHeader,
} from './wire.js';

/**
 * One HTTP/2 connection over an established (TLS) socket, client or server, carrying CONNECT
 * tunnels: frames in and out, HPACK, flow control in both directions, GOAWAY and PING, and the
 * limits that keep a hostile peer from costing more than its windows. Written for the data path:
 * a DATA payload goes to its stream as a view of the socket's read, and outgoing DATA frames are
 * sized so that each fits one TLS record with its header.
 *
 * Events: `stream` (server; the stream and its request headers), `goaway` (code, last stream
 * id), `error` (only when listened to), `close` (once). A client's stream emits `response` with
 * the response headers and, when the response ends with a trailer section (gRPC's status),
 * `trailers` before its readable end.
 */
export interface SessionSettings {
  readonly initialWindowSize: number;
  readonly maxFrameSize: number;
  readonly maxHeaderListSize: number;
  /** Server only: concurrent streams the client may open. */
  readonly maxConcurrentStreams?: number;
}

export interface SessionLimits {
  readonly maxHeaderPairs: number;
  readonly maxSettingsEntries: number;
  readonly maxOutstandingPings: number;
  /** Stream errors the peer may cause (malformed requests, bad frames on a stream) before the session ends. */
  readonly maxInvalidFrames: number;
  /** Streams refused for being over the concurrency limit before the session ends. */
  readonly maxRejectedStreams: number;
  /** DATA frames without payload or END_STREAM (they cost work and carry nothing). */
  readonly maxEmptyDataFrames: number;
  /** Bytes waiting on the socket beyond which a control frame to answer is taken for a flood. */
  readonly maxSocketBacklog: number;
}

export interface SessionOptions {
  readonly settings: SessionSettings;
  /** The connection-level receive window, raised from the protocol's 65,535 right at the start. */
  readonly connectionWindow: number;
  readonly limits: SessionLimits;
}

/** A DATA frame and its header fit one 16 KB TLS record, so a record never carries two halves. */
const DATA_PAYLOAD = DEFAULT_FRAME_SIZE - FRAME_HEADER;
/** Compressed header block beyond the list limit (HPACK adds a little for lengths and indices). */
const BLOCK_SLACK = 4096;
const MAX_BLOCK_FRAMES = 64;
/** A write waits for the socket to drain only past this much buffered, so bulk data is not paused per read. */
const SOCKET_WRITE_CAP = 256 * 1024;
/** How long a session ended with a final frame may take to flush it before the socket is destroyed. */
const FLUSH_GRACE_MS = 1_000;

interface HeaderBlock {
  readonly stream: number;
  readonly endStream: boolean;
  /** The HEADERS frame made the stream depend on itself: decoded, then refused. */
  readonly selfDependent: boolean;
  readonly parts: Buffer[];
  size: number;
  frames: number;
}

interface Ping { readonly cb: (err: Error | null, ms: number) => void; readonly at: number }

export class H2Session extends EventEmitter implements FrameSink {
  readonly streams = new Map<number, H2Stream>();
  destroyed = false;
  /** Closing: close() was called or a GOAWAY received; no new streams either way. */
  closed = false;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says). */
  remoteMaxStreams = Number.POSITIVE_INFINITY;
  private goawaySent = false;
  private goawayLast = MAX_STREAM_ID;
  private remoteWindow = DEFAULT_WINDOW;
  private remoteMaxFrame = DEFAULT_FRAME_SIZE;
  private connSend = DEFAULT_WINDOW;
  private connRecv: number;
  private connUnacked = 0;
  private readonly streamCreditStep: number;
  private readonly connCreditStep: number;
  private lastPeerStream = 0;
  private nextStreamId = 1;
  private block: HeaderBlock | undefined;
  private settingsSeen = false;
  private prefaceLeft: number;
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  private readonly pings = new Map<number, Ping>();
  private pingSeq = 0;
  private invalid = 0;
  private rejected = 0;
  private emptyData = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly blocked = new Set<H2Stream>();
  /** The DATA frame being read: its stream (undefined when discarded), length, and payload delivered. */
  private dataTarget: H2Stream | undefined;
  private dataLength = 0;
  private dataDelivered = 0;
  /**
   * DATA pieces of one stream from one socket read, handed over together: a frame that straddles
   * two TLS records (a peer's 16 KB frame plus its header never fits one) would otherwise reach
   * the application as two writes per record.
   */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private heldStream: H2Stream | undefined;

  constructor(readonly socket: net.Socket, readonly role: 'client' | 'server', private readonly opts: SessionOptions) {
    super();
    const { settings } = opts;
    this.reader = new FrameReader(this, settings.maxFrameSize);
    this.decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: settings.maxHeaderListSize, maxHeaderPairs: opts.limits.maxHeaderPairs });
    this.connRecv = Math.max(DEFAULT_WINDOW, opts.connectionWindow);
    this.streamCreditStep = Math.max(DEFAULT_FRAME_SIZE, settings.initialWindowSize >>> 2);
    this.connCreditStep = Math.max(DEFAULT_FRAME_SIZE, this.connRecv >>> 2);
    this.prefaceLeft = role === 'server' ? PREFACE.length : 0;
    const values: Array<[number, number]> = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, settings.initialWindowSize],
      [Setting.MAX_FRAME_SIZE, settings.maxFrameSize],
      [Setting.MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize],
    ];
    if (settings.maxConcurrentStreams !== undefined) values.push([Setting.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams]);
    const start = [settingsFrame(values)];
    if (role === 'client') start.unshift(PREFACE);
    if (this.connRecv > DEFAULT_WINDOW) start.push(u32Frame(FrameType.WINDOW_UPDATE, 0, this.connRecv - DEFAULT_WINDOW));
    socket.write(Buffer.concat(start));
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.destroy(err));
    socket.on('end', () => this.destroy(this.streams.size > 0 ? new Error('the peer closed the connection') : undefined));
    socket.on('close', () => this.destroy());
  }

  // ---- public surface -------------------------------------------------------------------

  /** Client: opens a stream with a HEADERS frame (no END_STREAM). */
  request(headers: H2Headers): H2Stream {
    if (this.role !== 'client') throw new H2Error(ErrorCode.INTERNAL_ERROR, 'only a client opens streams');
    if (this.closed || this.destroyed || this.nextStreamId > MAX_STREAM_ID) {
      this.closed = true;
      throw new H2Error(ErrorCode.REFUSED_STREAM, 'the session takes no new streams');
    }
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const stream = new H2Stream(this, id, this.remoteWindow, this.opts.settings.initialWindowSize);
    this.streams.set(id, stream);
    this.write(headersFrames(id, this.encoder.encode(Object.entries(headers)), false, this.remoteMaxFrame));
    return stream;
  }

  /** Sends PING; `cb` gets the round trip, or an error when the session ends first. False when too many are outstanding. */
  ping(cb: (err: Error | null, ms: number) => void): boolean {
    if (this.destroyed || this.pings.size >= this.opts.limits.maxOutstandingPings) return false;
    const id = ++this.pingSeq >>> 0;
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(id, 4);
    this.pings.set(id, { cb, at: performance.now() });
    this.write(frame(FrameType.PING, 0, 0, payload));
    return true;
  }

  /** Sends GOAWAY: no stream after `lastStream` (default: the last the peer opened) will be served. */
  goaway(code: number = ErrorCode.NO_ERROR, lastStream = this.lastPeerStream): void {
    if (this.destroyed) return;
    this.goawaySent = true;
    this.goawayLast = Math.min(this.goawayLast, lastStream);
    this.write(goawayFrame(lastStream, code));
  }

  /** Graceful: GOAWAY unless sent already, no new streams, and the connection ends once the open ones are done. */
  close(): void {
    if (this.destroyed) return;
    this.closed = true;
    if (!this.goawaySent) this.goaway(ErrorCode.NO_ERROR);
    this.maybeEnd();
  }

  /**
   * Ends the session at once: every open stream is destroyed (with `err` when given), the socket
   * is destroyed — or, when `flush`, ended so that the frames already written still go out.
   */
  destroy(err?: Error, flush = false): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closed = true;
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    this.drainWaiters = [];
    for (const s of streams) {
      s.done = true;
      s.aborted = true;
      s.rstCode ??= err ? ErrorCode.INTERNAL_ERROR : ErrorCode.CANCEL;
      s.destroy(err);
    }
    const gone = new Error('http/2 session closed');
    for (const p of this.pings.values()) p.cb(gone, 0);
    this.pings.clear();
    if (flush && !this.socket.destroyed) {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), FLUSH_GRACE_MS).unref();
    } else {
      this.socket.destroy();
    }
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    process.nextTick(() => this.emit('close'));
  }

  unref(): void {
    this.socket.unref();
  }

  // ---- calls from streams -----------------------------------------------------------------

  respond(s: H2Stream, headers: H2Headers, endStream: boolean): void {
    if (this.role !== 'server' || s.headersSent || s.done) throw new H2Error(ErrorCode.INTERNAL_ERROR, `stream ${s.id} cannot be answered`);
    s.headersSent = true;
    this.write(headersFrames(s.id, this.encoder.encode(Object.entries(headers)), endStream, this.remoteMaxFrame));
    if (!endStream) return;
    s.localEnded = true;
    if (s.remoteEnded) {
      this.finish(s);
    } else {
      // A complete answer before the request's end (an error status): the client is asked to
      // stop sending, without error (RFC 9113 §8.1), and the stream is done.
      this.reset(s, ErrorCode.NO_ERROR);
    }
    s.destroy();
  }

  /** Sends RST_STREAM and forgets the stream. */
  reset(s: H2Stream, code: number): void {
    if (s.done) return;
    s.done = true;
    s.rstCode = code;
    this.write(u32Frame(FrameType.RST_STREAM, s.id, code));
    this.gone(s);
  }

  send(s: H2Stream, bufs: Buffer[], end: boolean, cb: (err?: Error | null) => void): void {
    if (s.done || s.localEnded || this.destroyed) {
      cb(new H2Error(ErrorCode.STREAM_CLOSED, `stream ${s.id} is closed for writing`, s.id));
      return;
    }
    s.pending = { bufs, end, cb };
    this.flush(s);
  }

  /**
   * The stream's reader took what was handed to it: the bytes count as consumed, for the stream
   * and for the connection, and each window's credit goes back to the peer once it reaches its
   * step. The two steps are kept apart: many streams each holding less than a stream step would
   * otherwise never return the connection's window, and stall every stream of the connection.
   */
  credit(s: H2Stream): void {
    if (s.unacked === 0 || this.destroyed) return;
    const n = s.unacked;
    s.unacked = 0;
    this.connUnacked += n;
    let out: Buffer | undefined;
    s.consumed += n;
    if (s.consumed >= this.streamCreditStep && !s.remoteEnded && !s.done) {
      out = u32Frame(FrameType.WINDOW_UPDATE, s.id, s.consumed);
      s.recvWindow += s.consumed;
      s.consumed = 0;
    }
    const conn = this.connectionCredit();
    if (out && conn) this.write(Buffer.concat([out, conn]));
    else if (out ?? conn) this.write((out ?? conn)!);
  }

  // ---- writing ----------------------------------------------------------------------------

  private write(buf: Buffer): void {
    if (!this.destroyed) this.socket.write(buf);
  }

  private connectionCredit(): Buffer | undefined {
    if (this.connUnacked < this.connCreditStep) return undefined;
    const n = this.connUnacked;
    this.connUnacked = 0;
    this.connRecv += n;
    return u32Frame(FrameType.WINDOW_UPDATE, 0, n);
  }

  /** Data of a stream that was dropped: its window share goes back to the connection at once. */
  private discard(n: number): void {
    if (n === 0) return;
    this.connUnacked += n;
    const conn = this.connectionCredit();
    if (conn) this.write(conn);
  }

  /** Sends as much of the stream's pending write as the windows allow, as one socket write. */
  private flush(s: H2Stream): void {
    const p = s.pending;
    if (!p || this.destroyed) return;
    let remaining = 0;
    for (const b of p.bufs) remaining += b.length;
    if (remaining === 0 && !p.end) {
      s.pending = undefined;
      p.cb();
      return;
    }
    const take = Math.max(0, Math.min(remaining, s.sendWindow, this.connSend));
    const endNow = p.end && take === remaining;
    if (take === 0 && !endNow) { this.blocked.add(s); return; }
    const cap = Math.min(DATA_PAYLOAD, this.remoteMaxFrame);
    const frames = Math.max(1, Math.ceil(take / cap));
    const out = Buffer.allocUnsafe(take + frames * FRAME_HEADER);
    let pos = 0;
    let left = take;
    for (let f = 0; f < frames; f++) {
      const len = Math.min(cap, left);
      writeFrameHeader(out, pos, len, FrameType.DATA, endNow && f === frames - 1 ? Flag.END_STREAM : 0, s.id);
      pos += FRAME_HEADER;
      for (let need = len; need > 0;) {
        const b = p.bufs[0]!;
        const n = Math.min(need, b.length);
        b.copy(out, pos, 0, n);
        pos += n;
        need -= n;
        if (n === b.length) p.bufs.shift(); else p.bufs[0] = b.subarray(n);
      }
      left -= len;
    }
    s.sendWindow -= take;
    this.connSend -= take;
    this.write(out);
    if (take < remaining) { this.blocked.add(s); return; }
    s.pending = undefined;
    this.blocked.delete(s);
    if (endNow) {
      s.localEnded = true;
      if (s.remoteEnded) this.finish(s);
    }
    if (this.socket.writableLength > SOCKET_WRITE_CAP) this.drainWaiters.push(p.cb);
    else p.cb();
  }

  private flushBlocked(): void {
    for (const s of [...this.blocked]) {
      if (this.connSend <= 0) return;
      if (s.sendWindow > 0) this.flush(s);
    }
  }

  private onDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of waiters) cb();
  }

  /** A control frame the protocol obliges us to answer; a peer that sends them without reading floods us. */
  private answer(buf: Buffer): void {
    if (this.socket.writableLength > this.opts.limits.maxSocketBacklog) {
      throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, 'the peer sends control frames without reading the answers');
    }
    this.write(buf);
  }

  // ---- stream bookkeeping -------------------------------------------------------------------

  /** Both sides ended: the stream is finished on the wire. */
  private finish(s: H2Stream): void {
    if (s.done) return;
    s.done = true;
    s.rstCode = ErrorCode.NO_ERROR;
    this.gone(s);
  }

  private gone(s: H2Stream): void {
    this.streams.delete(s.id);
    this.blocked.delete(s);
    s.pending = undefined;
    const unacked = s.unacked;
    s.unacked = 0;
    this.discard(unacked);
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.closed && this.streams.size === 0) this.destroy(undefined, true);
  }

  /** Odd ids are opened by the client, even ones by a server (this one never does). */
  private idle(id: number): boolean {
    if (id % 2 === 0) return true;
    return this.role === 'server' ? id > this.lastPeerStream : id >= this.nextStreamId;
  }

  private streamError(id: number, code: number, why: string): void {
    const s = this.streams.get(id);
    if (s) {
      this.reset(s, code);
      s.destroy(new H2Error(code, why, id));
    } else {
      this.write(u32Frame(FrameType.RST_STREAM, id, code));
    }
    if (++this.invalid > this.opts.limits.maxInvalidFrames) {
      throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `more than ${this.opts.limits.maxInvalidFrames} invalid frames`);
    }
  }

  private remoteEnd(s: H2Stream): void {
    s.remoteEnded = true;
    s.push(null);
    if (s.localEnded) this.finish(s);
  }

  // ---- reading ----------------------------------------------------------------------------

  private onSocketData(chunk: Buffer): void {
    if (this.destroyed) return;
    // Answers written while one read is processed (WINDOW_UPDATE, PING and SETTINGS acks) leave
    // in one socket write.
    this.socket.cork();
    try {
      let data = chunk;
      if (this.prefaceLeft > 0) {
        const n = Math.min(this.prefaceLeft, data.length);
        const at = PREFACE.length - this.prefaceLeft;
        if (!data.subarray(0, n).equals(PREFACE.subarray(at, at + n))) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'the client did not send the HTTP/2 connection preface');
        this.prefaceLeft -= n;
        data = data.subarray(n);
      }
      if (data.length > 0) this.reader.feed(data);
      this.release();
    } catch (err) {
      this.fail(err);
    } finally {
      this.socket.uncork();
    }
  }

  /** A connection error: GOAWAY with its code, then the session ends. */
  private fail(err: unknown): void {
    if (this.destroyed) return;
    const code = err instanceof H2Error ? err.h2Code : err instanceof HpackError ? ErrorCode.COMPRESSION_ERROR : ErrorCode.INTERNAL_ERROR;
    const error = err instanceof H2Error ? err : new H2Error(code, err instanceof Error ? err.message : String(err));
    this.write(goawayFrame(this.lastPeerStream, code));
    this.destroy(error, true);
  }

  /** Hands the held DATA pieces to their stream's reader. */
  private release(): void {
    const s = this.heldStream;
    if (!s) return;
    const piece = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    this.heldStream = undefined;
    if (s.destroyed) { this.discard(piece.length); return; }
    s.unacked += piece.length;
    if (s.push(piece)) this.credit(s);
  }

  onDataStart(id: number, flags: number, length: number): void {
    this.checkSequence(FrameType.DATA, id);
    if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    this.connRecv -= length;
    if (this.connRecv < 0) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.dataTarget = undefined;
    this.dataLength = length;
    this.dataDelivered = 0;
    const s = this.streams.get(id);
    if (!s) {
      if (this.idle(id)) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      this.discard(length); // a stream already closed: the frame is dropped (RFC 9113 §5.1)
      return;
    }
    if (s.remoteEnded) { this.discard(length); this.streamError(id, ErrorCode.STREAM_CLOSED, `DATA after END_STREAM on stream ${id}`); return; }
    if (this.role === 'client' && !s.headersSent) { this.discard(length); this.streamError(id, ErrorCode.PROTOCOL_ERROR, `DATA before the response on stream ${id}`); return; }
    s.recvWindow -= length;
    if (s.recvWindow < 0) { this.discard(length); this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR, `DATA beyond the window of stream ${id}`); return; }
    if (length === 0 && (flags & Flag.END_STREAM) === 0 && ++this.emptyData > this.opts.limits.maxEmptyDataFrames) {
      throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `more than ${this.opts.limits.maxEmptyDataFrames} empty DATA frames`);
    }
    this.dataTarget = s;
  }

  onData(_id: number, piece: Buffer): void {
    const s = this.dataTarget;
    if (!s) return;
    this.dataDelivered += piece.length;
    if (this.heldStream !== s) this.release();
    this.heldStream = s;
    this.held.push(piece);
    this.heldBytes += piece.length;
  }

  onDataEnd(_id: number, flags: number): void {
    const s = this.dataTarget;
    this.dataTarget = undefined;
    if (!s) return;
    // Padding counts against the windows but reaches no reader: credited at once.
    const padding = this.dataLength - this.dataDelivered;
    if (padding > 0) {
      s.unacked += padding;
      this.credit(s);
    }
    if ((flags & Flag.END_STREAM) !== 0 && !s.remoteEnded) {
      this.release();
      this.remoteEnd(s);
    }
  }

  /** The first frame must be SETTINGS; a header block allows nothing but its CONTINUATIONs. */
  private checkSequence(type: number, id: number): void {
    if (!this.settingsSeen && type !== FrameType.SETTINGS) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'the first frame is not SETTINGS');
    if (this.block && (type !== FrameType.CONTINUATION || id !== this.block.stream)) {
      throw new H2Error(ErrorCode.PROTOCOL_ERROR, `frame type ${type} inside the header block of stream ${this.block.stream}`);
    }
  }

  onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    this.checkSequence(type, id);
    // What a control frame does to a stream (a reset, a GOAWAY) comes after the data before it.
    this.release();
    switch (type) {
      case FrameType.HEADERS: return this.onHeaders(flags, id, payload);
      case FrameType.CONTINUATION: return this.onContinuation(flags, id, payload);
      case FrameType.SETTINGS: return this.onSettings(flags, id, payload);
      case FrameType.WINDOW_UPDATE: return this.onWindowUpdate(id, payload);
      case FrameType.PING: return this.onPing(flags, id, payload);
      case FrameType.RST_STREAM: return this.onReset(id, payload);
      case FrameType.GOAWAY: return this.onGoaway(id, payload);
      case FrameType.PRIORITY:
        if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) this.streamError(id, ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY frame is not 5 bytes');
        return undefined;
      case FrameType.PUSH_PROMISE: throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE, though push is disabled');
      default: return undefined; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let at = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      if (end < 1) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'padded HEADERS without a pad length');
      end -= payload[0]!;
      at = 1;
    }
    let selfDependent = false;
    if (flags & Flag.PRIORITY) {
      if (end - at < 5) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      selfDependent = (payload.readUInt32BE(at) & 0x7fffffff) === id;
      at += 5;
    }
    if (end < at) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding is longer than the frame');
    const fragment = payload.subarray(at, end);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    this.checkBlockSize(fragment.length);
    if (flags & Flag.END_HEADERS) { this.headerBlock(id, fragment, endStream, selfDependent); return; }
    this.block = { stream: id, endStream, selfDependent, parts: [Buffer.from(fragment)], size: fragment.length, frames: 1 };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const block = this.block;
    if (!block) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `CONTINUATION on stream ${id} without HEADERS`);
    block.size += payload.length;
    this.checkBlockSize(block.size);
    if (++block.frames > MAX_BLOCK_FRAMES) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `header block of more than ${MAX_BLOCK_FRAMES} frames`);
    block.parts.push(Buffer.from(payload));
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.block = undefined;
    this.headerBlock(id, Buffer.concat(block.parts, block.size), block.endStream, block.selfDependent);
  }

  private checkBlockSize(size: number): void {
    const max = this.opts.settings.maxHeaderListSize + BLOCK_SLACK;
    if (size > max) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `header block of more than ${max} bytes`);
  }

  /** A complete header block: decoded always (the HPACK table must stay in step), then dispatched. */
  private headerBlock(id: number, block: Buffer, endStream: boolean, selfDependent: boolean): void {
    const decoded = this.decoder.decode(block);
    if (selfDependent) { this.streamError(id, ErrorCode.PROTOCOL_ERROR, `stream ${id} depends on itself`); return; }
    if (this.role === 'server') this.onRequest(id, decoded.fields, decoded.oversize, endStream);
    else this.onResponse(id, decoded.fields, decoded.oversize, endStream);
  }

  private onRequest(id: number, fields: Array<[string, string]>, oversize: boolean, endStream: boolean): void {
    if (this.streams.has(id)) { this.streamError(id, ErrorCode.PROTOCOL_ERROR, `HEADERS after the request on CONNECT stream ${id}`); return; }
    if (id % 2 === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `client opened even stream ${id}`);
    if (id <= this.lastPeerStream) { this.streamError(id, ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`); return; }
    this.lastPeerStream = id;
    // Streams crossing our GOAWAY are refused unprocessed, so the client may retry them elsewhere.
    if (this.closed || id > this.goawayLast) { this.write(u32Frame(FrameType.RST_STREAM, id, ErrorCode.REFUSED_STREAM)); return; }
    if (this.streams.size >= (this.opts.settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY)) {
      this.write(u32Frame(FrameType.RST_STREAM, id, ErrorCode.REFUSED_STREAM));
      if (++this.rejected > this.opts.limits.maxRejectedStreams) {
        throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `more than ${this.opts.limits.maxRejectedStreams} streams over the concurrency limit`);
      }
      return;
    }
    if (oversize) { this.streamError(id, ErrorCode.PROTOCOL_ERROR, `request headers of stream ${id} exceed the header list limit`); return; }
    const headers = messageHeaders(fields, 'request');
    if (typeof headers === 'string') { this.streamError(id, ErrorCode.PROTOCOL_ERROR, headers); return; }
    const s = new H2Stream(this, id, this.remoteWindow, this.opts.settings.initialWindowSize);
    this.streams.set(id, s);
    if (endStream) this.remoteEnd(s);
    this.emit('stream', s, headers);
  }

  private onResponse(id: number, fields: Array<[string, string]>, oversize: boolean, endStream: boolean): void {
    const s = this.streams.get(id);
    if (!s) {
      if (this.idle(id)) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
      return; // a stream we reset already
    }
    if (oversize) { this.streamError(id, ErrorCode.PROTOCOL_ERROR, `response headers of stream ${id} exceed the header list limit`); return; }
    if (s.headersSent) { this.onTrailers(s, fields, endStream); return; }
    const headers = messageHeaders(fields, 'response');
    if (typeof headers === 'string') { this.streamError(id, ErrorCode.PROTOCOL_ERROR, headers); return; }
    const status = Number(headers[':status']);
    if (status < 200) {
      if (status === 101 || endStream) this.streamError(id, ErrorCode.PROTOCOL_ERROR, `informational response ${status} on stream ${id}`);
      return;
    }
    s.headersSent = true;
    s.emit('response', headers);
    if (endStream && !s.remoteEnded) this.remoteEnd(s);
  }

  /** A second header block ends the response (trailers, as gRPC sends its status); without END_STREAM it is malformed. */
  private onTrailers(s: H2Stream, fields: Array<[string, string]>, endStream: boolean): void {
    if (!endStream || s.remoteEnded) { this.streamError(s.id, ErrorCode.PROTOCOL_ERROR, `HEADERS after the response on stream ${s.id} do not end it`); return; }
    const trailers = messageHeaders(fields, 'trailers');
    if (typeof trailers === 'string') { this.streamError(s.id, ErrorCode.PROTOCOL_ERROR, trailers); return; }
    s.emit('trailers', trailers);
    this.remoteEnd(s);
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS on stream ${id}`);
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS acknowledgement with a payload');
      if (!this.settingsSeen) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'the first frame is not SETTINGS');
      return;
    }
    if (payload.length % 6 !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS of ${payload.length} bytes`);
    if (payload.length / 6 > this.opts.limits.maxSettingsEntries) {
      throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `SETTINGS with more than ${this.opts.limits.maxSettingsEntries} entries`);
    }
    let windowDelta = 0;
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (key) {
        case Setting.ENABLE_PUSH:
          if (value > 1 || (value === 1 && this.role === 'client')) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.remoteMaxStreams = value;
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value}`);
          windowDelta += value - this.remoteWindow;
          this.remoteWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_FRAME_SIZE || value > 0xffffff) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}`);
          this.remoteMaxFrame = value;
          break;
        default: // the table size (our encoder keeps no table), the list size (our lists are small), unknown ids
      }
    }
    this.settingsSeen = true;
    if (windowDelta !== 0) {
      for (const s of this.streams.values()) {
        s.sendWindow += windowDelta;
        if (s.sendWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS push the window of stream ${s.id} past 2^31-1`);
      }
    }
    this.answer(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (windowDelta > 0) this.flushBlocked();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE is not 4 bytes');
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      this.connSend += inc;
      if (this.connSend > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection window past 2^31-1');
      this.flushBlocked();
      return;
    }
    const s = this.streams.get(id);
    if (!s) {
      if (this.idle(id)) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (inc === 0) { this.streamError(id, ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE of 0 on stream ${id}`); return; }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) { this.streamError(id, ErrorCode.FLOW_CONTROL_ERROR, `window of stream ${id} past 2^31-1`); return; }
    if (this.connSend > 0) this.flush(s);
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `PING on stream ${id}`);
    if (payload.length !== 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'PING is not 8 bytes');
    if ((flags & Flag.ACK) === 0) { this.answer(frame(FrameType.PING, Flag.ACK, 0, payload)); return; }
    if (payload.readUInt32BE(0) !== 0) return;
    const key = payload.readUInt32BE(4);
    const p = this.pings.get(key);
    if (!p) return;
    this.pings.delete(key);
    p.cb(null, performance.now() - p.at);
  }

  private onReset(id: number, payload: Buffer): void {
    if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM is not 4 bytes');
    const s = this.streams.get(id);
    if (!s) {
      if (this.idle(id)) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
      return;
    }
    const code = payload.readUInt32BE(0);
    s.done = true;
    s.rstCode = code;
    this.gone(s);
    this.endReset(s, code);
  }

  /**
   * A stream reset by the peer or refused by its GOAWAY. NO_ERROR and CANCEL end what was received
   * like END_STREAM (data already buffered is still read); other codes destroy it with an error.
   */
  private endReset(s: H2Stream, code: number): void {
    if (code !== ErrorCode.NO_ERROR && code !== ErrorCode.CANCEL) {
      s.destroy(new H2Error(code, `stream ${s.id} reset by the peer (${codeName(code)})`, s.id));
      return;
    }
    if (!s.remoteEnded) { s.remoteEnded = true; s.push(null); }
    if (s.readableLength === 0) s.destroy(); else s.once('end', () => s.destroy());
  }

  private onGoaway(id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `GOAWAY on stream ${id}`);
    if (payload.length < 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
    const last = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.closed = true;
    if (this.role === 'client') {
      for (const s of [...this.streams.values()]) {
        if (s.id <= last) continue;
        // Never processed by the peer: refused, so the caller may open it again elsewhere.
        s.done = true;
        s.rstCode = ErrorCode.REFUSED_STREAM;
        this.gone(s);
        s.destroy();
      }
    }
    this.emit('goaway', code, last);
    if (code === ErrorCode.NO_ERROR) this.close();
    else this.destroy(new H2Error(code, `the peer sent GOAWAY (${codeName(code)})`), true);
  }
}
