import { randomBytes } from 'node:crypto';
import type { SocketAddress } from './authority.js';
import { formatAuthority, parseAuthority } from './authority.js';

/**
 * The request headers an HBONE client sends with every CONNECT, as ztunnel sends them. They are
 * informational for the peer: the server never uses them for authorization or to choose the source
 * address; only the port in `forwarded` may become the upstream socket's source port.
 */
export interface SourceDescription {
  readonly clusterId?: string;
  readonly namespace: string;
  /** The workload kind for `k8s.<kind>.name`: deployment, cronjob, pod or job. */
  readonly workloadKind: string;
  readonly workloadName: string;
  readonly canonicalName?: string;
  readonly canonicalRevision?: string;
}

export function baggageHeader(src: SourceDescription): string {
  const items: [string, string | undefined][] = [
    ['k8s.cluster.name', src.clusterId],
    ['k8s.namespace.name', src.namespace],
    [`k8s.${src.workloadKind}.name`, src.workloadName],
    ['service.name', src.canonicalName],
    ['service.version', src.canonicalRevision],
  ];
  return items.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${v}`).join(',');
}

export function forwardedHeader(src: SocketAddress, serviceHostname?: string): string {
  const host = serviceHostname ? `;host=${serviceHostname}` : '';
  return `for="${formatAuthority(src)}"${host}`;
}

/** Ports below this are privileged: a peer's header never makes the agent use one as a source. */
const FIRST_UNPRIVILEGED_PORT = 1024;

/**
 * The client's source port from `forwarded: for="ip:port"`, when the IP is `sourceIp` (the TCP
 * peer the agent connects upstream as) and the port unprivileged. It only picks the upstream
 * socket's source port, never what is allowed: a wrong one costs one more bind.
 */
export function forwardedSourcePort(header: string | string[] | undefined, sourceIp: string): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  const match = /(?:^|[;,\s])for="([^"]{1,64})"/i.exec(text ?? '');
  const addr = parseAuthority(match?.[1]);
  if (typeof addr === 'string' || addr.ip !== sourceIp || addr.port < FIRST_UNPRIVILEGED_PORT) return undefined;
  return addr.port;
}

/** W3C traceparent with fresh random ids per proxied connection. */
export function traceparentHeader(): string {
  const bytes = randomBytes(24);
  return `00-${bytes.subarray(0, 16).toString('hex')}-${bytes.subarray(16).toString('hex')}-00`;
}
