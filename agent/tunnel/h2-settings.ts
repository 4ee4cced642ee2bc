import http2 from 'node:http2';

/**
 * HTTP/2 parameters of HBONE, ztunnel's defaults. The connection window is
 * four times the stream window so one stalled stream cannot starve the others (ztunnel#1539).
 */
export const STREAM_WINDOW = 4 * 1024 * 1024;
export const CONNECTION_WINDOW = 16 * 1024 * 1024;
export const MAX_FRAME_SIZE = 1024 * 1024;
export const CLIENT_MAX_HEADER_LIST = 16 * 1024;
export const SERVER_MAX_HEADER_LIST = 64 * 1024;
export const SERVER_MAX_STREAMS = 200;
export const POOL_MAX_STREAMS = 100;
export const POOL_IDLE_RELEASE_MS = 5 * 60_000;
export const UPSTREAM_CONNECT_TIMEOUT_MS = 10_000;

export const clientSettings: http2.Settings = {
  enablePush: false,
  initialWindowSize: STREAM_WINDOW,
  maxFrameSize: MAX_FRAME_SIZE,
  maxHeaderListSize: CLIENT_MAX_HEADER_LIST,
};

export const serverSettings: http2.Settings = {
  enablePush: false,
  initialWindowSize: STREAM_WINDOW,
  maxFrameSize: MAX_FRAME_SIZE,
  maxHeaderListSize: SERVER_MAX_HEADER_LIST,
  maxConcurrentStreams: SERVER_MAX_STREAMS,
};

/**
 * Session limits against abusive peers (header-list and CONTINUATION floods, rapid reset,
 * SETTINGS/PING floods): unacknowledged SETTINGS and
 * PINGs, invalid frames and refused streams are bounded; memory per session is capped.
 */
export const sessionLimits = {
  maxSettings: 32,
  maxOutstandingPings: 10,
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  maxHeaderListPairs: 128,
  maxSessionMemory: 64,
  peerMaxConcurrentStreams: POOL_MAX_STREAMS,
} as const;
