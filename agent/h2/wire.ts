import { MeshnodeError } from '../base/errors.js';

/**
 * HTTP/2 on the wire (RFC 9113): frame types, flags, error codes and settings, the frame
 * header, and the encoders of the frames the session sends. Every frame starts with a 9-byte
 * header: 24-bit payload length, type, flags, and a 31-bit stream id (the top bit reserved).
 */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;
/** The frame size every peer must accept, and the initial window, before SETTINGS say more. */
export const DEFAULT_FRAME_SIZE = 16_384;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;
export const MAX_STREAM_ID = 2 ** 31 - 1;

export const enum FrameType {
  DATA = 0x0, HEADERS = 0x1, PRIORITY = 0x2, RST_STREAM = 0x3, SETTINGS = 0x4,
  PUSH_PROMISE = 0x5, PING = 0x6, GOAWAY = 0x7, WINDOW_UPDATE = 0x8, CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY = 0x20,
}

export const enum ErrorCode {
  NO_ERROR = 0x0, PROTOCOL_ERROR = 0x1, INTERNAL_ERROR = 0x2, FLOW_CONTROL_ERROR = 0x3,
  SETTINGS_TIMEOUT = 0x4, STREAM_CLOSED = 0x5, FRAME_SIZE_ERROR = 0x6, REFUSED_STREAM = 0x7,
  CANCEL = 0x8, COMPRESSION_ERROR = 0x9, CONNECT_ERROR = 0xa, ENHANCE_YOUR_CALM = 0xb,
  INADEQUATE_SECURITY = 0xc, HTTP_1_1_REQUIRED = 0xd,
}

const CODE_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT',
  'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

export function codeName(code: number): string {
  return CODE_NAMES[code] ?? `0x${code.toString(16)}`;
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1, ENABLE_PUSH = 0x2, MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4, MAX_FRAME_SIZE = 0x5, MAX_HEADER_LIST_SIZE = 0x6,
}

/**
 * A protocol violation. `stream` is 0 for a connection error (GOAWAY, the session ends) and the
 * stream's id for a stream error (RST_STREAM, only that stream ends).
 */
export class H2Error extends MeshnodeError {
  readonly code = 'ERR_H2' as const;
  constructor(readonly h2Code: number, message: string, readonly stream = 0) {
    super(`http/2 ${codeName(h2Code)}: ${message}`);
  }
}

export function writeFrameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream, at + 5);
}

export function frame(type: number, flags: number, stream: number, payload?: Buffer): Buffer {
  const len = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER + len);
  writeFrameHeader(out, 0, len, type, flags, stream);
  payload?.copy(out, FRAME_HEADER);
  return out;
}

export function settingsFrame(values: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.allocUnsafe(values.length * 6);
  values.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function u32Frame(type: FrameType.RST_STREAM | FrameType.WINDOW_UPDATE, stream: number, value: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(out, 0, 4, type, 0, stream);
  out.writeUInt32BE(value, FRAME_HEADER);
  return out;
}

export function goawayFrame(lastStream: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStream, 0);
  payload.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** A header block as HEADERS plus as many CONTINUATION frames as the peer's frame size needs. */
export function headersFrames(stream: number, block: Buffer, endStream: boolean, maxFrame: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0, first = true; first || at < block.length; first = false) {
    const piece = block.subarray(at, at + maxFrame);
    at += piece.length;
    const last = at >= block.length;
    const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
    parts.push(frame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, stream, piece));
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
