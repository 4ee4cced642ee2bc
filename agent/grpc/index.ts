/**
 * A gRPC client on the agent's own HTTP/2 (`agent/h2`): TLS channel, unary and server-streaming
 * calls, the status model. The agent's calls to the CA use it; they carry a few small messages,
 * which their callers encode with the base layer's protobuf primitives.
 */
export { GrpcChannel, type ChannelOptions } from './channel.js';
export type { Call } from './call.js';
export { GrpcError, Status, statusName } from './status.js';
