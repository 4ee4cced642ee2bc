import { Counter } from 'prom-client';
import { registry } from './registry.js';

/**
 * Data-plane traffic metrics with Istio's names and labels, as ztunnel exports them, so existing
 * Istio dashboards read them unchanged; catalogue entry in metrics/README.md ("Traffic").
 * Missing values are `unknown`, as in Istio.
 */
export const TRAFFIC_LABELS = [
  'reporter',
  'source_workload', 'source_canonical_service', 'source_canonical_revision', 'source_workload_namespace',
  'source_principal', 'source_app', 'source_version', 'source_cluster',
  'destination_service', 'destination_service_namespace', 'destination_service_name',
  'destination_workload', 'destination_canonical_service', 'destination_canonical_revision',
  'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_cluster',
  'request_protocol', 'response_flags', 'connection_security_policy',
] as const;

export type TrafficLabels = Record<(typeof TRAFFIC_LABELS)[number], string>;

export const connectionsOpened = new Counter({
  name: 'istio_tcp_connections_opened_total',
  help: 'TCP connections opened through the data plane',
  labelNames: TRAFFIC_LABELS,
  registers: [registry],
});

export const connectionsClosed = new Counter({
  name: 'istio_tcp_connections_closed_total',
  help: 'TCP connections closed by the data plane',
  labelNames: TRAFFIC_LABELS,
  registers: [registry],
});

export const receivedBytes = new Counter({
  name: 'istio_tcp_received_bytes_total',
  help: 'Bytes received from the downstream (client) side, sent towards the upstream',
  labelNames: TRAFFIC_LABELS,
  registers: [registry],
});

export const sentBytes = new Counter({
  name: 'istio_tcp_sent_bytes_total',
  help: 'Bytes sent to the downstream (client) side, received from the upstream',
  labelNames: TRAFFIC_LABELS,
  registers: [registry],
});

export const connectionsFailed = new Counter({
  name: 'istio_tcp_connections_failed_total',
  help: 'Connections that failed (response flag CONNECT, DENY, TLS_FAILURE, H2_HANDSHAKE_FAILURE, IDENTITY_ERROR, CERT_REVOKED)',
  labelNames: TRAFFIC_LABELS,
  registers: [registry],
});

export const DENIAL_REASONS = [
  'deny-matched', 'peer-authn-strict', 'no-allow-policies', 'no-allow-matched',
  'policy-revoked', 'bad-request', 'loop', 'no-certificate', 'unknown-source', 'unknown-destination',
  'no-healthy-upstream', 'no-original-destination', 'dial-limit', 'cert-revoked',
] as const;

export type DenialReason = (typeof DENIAL_REASONS)[number];

export const denials = new Counter({
  name: 'meshnode_proxy_denials_total',
  help: 'Connections or HBONE streams the data plane refused, by direction and reason',
  labelNames: ['direction', 'reason'] as const,
  registers: [registry],
});

export const crlRejections = new Counter({
  name: 'istio_crl_policy_rejections_total',
  help: 'HBONE handshakes refused because the peer certificate chain is revoked or its CRL does not verify (reporter source: dialling, destination: on 15008)',
  labelNames: ['reporter', 'reason'] as const,
  registers: [registry],
});

export const revokedClosures = new Counter({
  name: 'meshnode_revocation_closed_total',
  help: 'Open HBONE tunnels and proxied connections closed because a certificate they were established with is now revoked',
  labelNames: ['kind', 'direction'] as const,
  registers: [registry],
});

export const upstreamConnectFailures = new Counter({
  name: 'meshnode_proxy_upstream_connect_failures_total',
  help: 'Sockets the data plane could not bind or connect towards an upstream, by direction, stage and errno',
  labelNames: ['direction', 'stage', 'error'] as const,
  registers: [registry],
});

/**
 * Every metric the data plane writes: what a data-plane worker thread reports to the main
 * thread's endpoint, summed there with the main thread's own.
 */
export const DATA_PLANE_METRICS: ReadonlySet<string> = new Set([
  connectionsOpened, connectionsClosed, receivedBytes, sentBytes, connectionsFailed, denials, crlRejections, revokedClosures,
  upstreamConnectFailures,
].map((m) => (m as unknown as { name: string }).name));
