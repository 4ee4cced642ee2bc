/**
 * HTTP/2 for HBONE: a session over an established socket (client or server) whose streams are
 * CONNECT tunnels, with its own framing, HPACK and flow control, so the data path runs without
 * Node's `http2` module.
 */
export { H2Session, type SessionLimits, type SessionOptions, type SessionSettings } from './session.js';
export { H2Stream, type H2Headers } from './stream.js';
export { ErrorCode, H2Error, codeName } from './wire.js';
