import type { Service, Workload } from '../model/types.js';
import { telemetryNames } from '../model/telemetry.js';
import { createLogger, type LogFields, type Logger } from '../telemetry/log.js';

/**
 * Access log: exactly one structured line per proxied connection, written when it closes
 * (like ztunnel's `connection complete` event). Field names follow ztunnel's (`src.addr`,
 * `dst.hbone_addr`, ...), so
 * queries written for ztunnel logs work. `bytes_sent`/`bytes_recv` are from the application's
 * point of view: outbound `bytes_sent` is what the client app sent, inbound `bytes_sent` is what
 * the server app returned. Successful connections log at info, failed or refused ones at warn.
 */
export interface Endpoint {
  readonly addr: string;
  readonly workload?: Workload | undefined;
  readonly identity?: string | undefined;
}

export interface AccessRecord {
  readonly direction: 'inbound' | 'outbound';
  readonly src: Endpoint;
  readonly dst: Endpoint & { readonly hboneAddr?: string | undefined; readonly service?: Service | undefined };
  readonly bytesSent: number;
  readonly bytesRecv: number;
  readonly durationMs: number;
  /** Authorization outcome, e.g. `allow-matched`, when a policy was evaluated. */
  readonly decision?: string | undefined;
  /** Why the connection failed or was refused; absent for a clean close. */
  readonly error?: string | undefined;
}

const access = createLogger('access');

function put(fields: LogFields, key: string, value: unknown): void {
  if (value !== undefined && value !== '') fields[key] = value;
}

export function accessFields(r: AccessRecord): LogFields {
  const f: LogFields = {};
  put(f, 'src.addr', r.src.addr);
  put(f, 'src.workload', r.src.workload && telemetryNames(r.src.workload).workloadName);
  put(f, 'src.namespace', r.src.workload?.namespace);
  put(f, 'src.identity', r.src.identity);
  put(f, 'src.cluster', r.src.workload && telemetryNames(r.src.workload).cluster);
  put(f, 'dst.addr', r.dst.addr);
  put(f, 'dst.hbone_addr', r.dst.hboneAddr);
  put(f, 'dst.service', r.dst.service?.hostname);
  put(f, 'dst.workload', r.dst.workload && telemetryNames(r.dst.workload).workloadName);
  put(f, 'dst.namespace', r.dst.workload?.namespace);
  put(f, 'dst.identity', r.dst.identity);
  put(f, 'dst.cluster', r.dst.workload && telemetryNames(r.dst.workload).cluster);
  f.direction = r.direction;
  f.bytes_sent = r.bytesSent;
  f.bytes_recv = r.bytesRecv;
  f.duration = `${Math.round(r.durationMs)}ms`;
  put(f, 'decision', r.decision);
  put(f, 'error', r.error);
  return f;
}

export function writeAccessLog(r: AccessRecord, log: Logger = access): void {
  if (r.error === undefined) log.info('connection complete', accessFields(r));
  else log.warn('connection failed', accessFields(r));
}
