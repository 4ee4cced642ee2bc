import type { SessionLimits, SessionOptions } from '../h2/index.js';

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

/**
 * Session limits against abusive peers (header-list and CONTINUATION floods, rapid reset,
 * SETTINGS/PING floods, empty-frame floods): every one ends the session with
 * GOAWAY(ENHANCE_YOUR_CALM) when passed. A peer that sends control frames without reading our
 * answers is stopped once 64 MB wait on its socket.
 */
export const sessionLimits: SessionLimits = {
  maxHeaderPairs: 128,
  maxSettingsEntries: 32,
  maxOutstandingPings: 10,
  maxInvalidFrames: 100,
  maxRejectedStreams: 100,
  maxEmptyDataFrames: 100,
  maxSocketBacklog: 64 * 1024 * 1024,
};

export const clientSession: SessionOptions = {
  settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME_SIZE, maxHeaderListSize: CLIENT_MAX_HEADER_LIST },
  connectionWindow: CONNECTION_WINDOW,
  limits: sessionLimits,
};

export const serverSession: SessionOptions = {
  settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME_SIZE, maxHeaderListSize: SERVER_MAX_HEADER_LIST, maxConcurrentStreams: SERVER_MAX_STREAMS },
  connectionWindow: CONNECTION_WINDOW,
  limits: sessionLimits,
};
