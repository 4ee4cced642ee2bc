import { randomBytes } from 'node:crypto';
import type { SocketAddress } from './authority.js';
import { formatAuthority } from './authority.js';

/**
 * The request headers an HBONE client sends with every CONNECT, as ztunnel sends them. They are
 * informational for the peer: the server never uses them for authorization or source selection.
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

/** W3C traceparent with fresh random ids per proxied connection. */
export function traceparentHeader(): string {
  const bytes = randomBytes(24);
  return `00-${bytes.subarray(0, 16).toString('hex')}-${bytes.subarray(16).toString('hex')}-00`;
}
