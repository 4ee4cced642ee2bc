import { MeshnodeError } from '../base/errors.js';
/**
 * Errors of the HBONE tunnel. Each carries a stable `code` and the Istio response flag it maps
 * to in telemetry (the `response_flags` label), so access logs and metrics classify failures the
 * same way ztunnel does.
 */
export type ResponseFlag = '-' | 'DENY' | 'CONNECT' | 'TLS_FAILURE' | 'H2_HANDSHAKE_FAILURE' | 'NETWORK_POLICY' | 'IDENTITY_ERROR' | 'CERT_REVOKED';

export type TunnelErrorCode =
  | 'ERR_TUNNEL_TLS'
  | 'ERR_TUNNEL_SECURE_NAMING'
  | 'ERR_TUNNEL_PEER_CERT'
  | 'ERR_TUNNEL_REVOKED'
  | 'ERR_TUNNEL_H2'
  | 'ERR_TUNNEL_STATUS'
  | 'ERR_TUNNEL_CLOSED'
  | 'ERR_TUNNEL_REFUSED';

const FLAGS: Record<TunnelErrorCode, ResponseFlag> = {
  ERR_TUNNEL_TLS: 'TLS_FAILURE',
  ERR_TUNNEL_SECURE_NAMING: 'TLS_FAILURE',
  ERR_TUNNEL_PEER_CERT: 'TLS_FAILURE',
  ERR_TUNNEL_REVOKED: 'CERT_REVOKED',
  ERR_TUNNEL_H2: 'H2_HANDSHAKE_FAILURE',
  ERR_TUNNEL_STATUS: 'CONNECT',
  ERR_TUNNEL_CLOSED: 'CONNECT',
  ERR_TUNNEL_REFUSED: 'CONNECT',
};

export class TunnelError extends MeshnodeError {
  readonly responseFlag: ResponseFlag;
  /** HTTP status of the CONNECT response when the peer answered with a non-200. */
  readonly status: number | undefined;
  constructor(readonly code: TunnelErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
    this.responseFlag = code === 'ERR_TUNNEL_STATUS' && options?.status === 401 ? 'DENY' : FLAGS[code];
  }
}
