/**
 * HBONE: mutual-TLS HTTP/2 CONNECT. The client connection and its pool, the server for a pod's
 * port 15008, the certificate view both sides read, and the CONNECT header helpers.
 */
export { formatAuthority, type SocketAddress } from './authority.js';
export { type CertSource, type TunnelCert } from './cert-source.js';
export { baggageHeader, forwardedHeader, forwardedSourcePort, traceparentHeader } from './connect-headers.js';
export { TunnelError, type ResponseFlag } from './errors.js';
export { UPSTREAM_CONNECT_TIMEOUT_MS } from './h2-settings.js';
export { HboneConnection } from './hbone-connection.js';
export { HboneServer, answerable, respondError, type InboundStream } from './hbone-server.js';
export { HbonePool } from './pool.js';
export { ErrorCode, H2Stream, type H2Headers } from '../h2/index.js';
export { tunnelPeerChain, type RevocationCheck } from './peer-chain.js';
export { secureContextFor } from './tls-config.js';
