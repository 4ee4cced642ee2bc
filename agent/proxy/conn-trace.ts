import { performance } from 'node:perf_hooks';
import type { Service, Workload } from '../model/types.js';
import { telemetryNames } from '../model/telemetry.js';
import { writeAccessLog, type AccessRecord } from './access-log.js';
import {
  connectionsClosed, connectionsFailed, connectionsOpened, denials, receivedBytes, sentBytes,
  type DenialReason, type TrafficLabels,
} from '../../metrics/proxy.js';
import type { ResponseFlag } from '../tunnel/index.js';

/**
 * The telemetry of one proxied connection: Istio traffic metrics when it opens and closes, a
 * denial count when it is refused, and its single access-log line at the end. Each connection
 * reports exactly once, whichever way it ends.
 */
export interface TraceParty {
  addr: string;
  workload?: Workload | undefined;
  identity?: string | undefined;
}

export interface TraceStart {
  readonly direction: 'inbound' | 'outbound';
  readonly src: TraceParty;
  readonly dst: TraceParty & { hboneAddr?: string | undefined; service?: Service | undefined };
}

export interface TraceEnd {
  /** Bytes from the connecting side towards the destination, and back. */
  readonly downToUp: number;
  readonly upToDown: number;
  readonly error?: string | undefined;
  readonly flag?: ResponseFlag | undefined;
}

export class ConnectionTrace {
  private readonly started = performance.now();
  readonly startedAt = Date.now();
  private done = false;
  private isOpen = false;
  private mtls = false;
  decision: string | undefined;

  constructor(readonly start: TraceStart) {}

  /** Marks the connection as carried over mTLS (HBONE) for `connection_security_policy`. */
  secure(): this {
    this.mtls = true;
    return this;
  }

  private labels(flag: ResponseFlag): TrafficLabels {
    const { src, dst } = this.start;
    const s = src.workload && telemetryNames(src.workload);
    const d = dst.workload && telemetryNames(dst.workload);
    return {
      reporter: this.start.direction === 'outbound' ? 'source' : 'destination',
      source_workload: s?.workloadName ?? 'unknown',
      source_canonical_service: s?.canonicalName ?? 'unknown',
      source_canonical_revision: s?.canonicalRevision ?? 'unknown',
      source_workload_namespace: src.workload?.namespace ?? 'unknown',
      source_principal: src.identity ?? 'unknown',
      source_app: s?.canonicalName ?? 'unknown',
      source_version: s?.canonicalRevision ?? 'unknown',
      source_cluster: s?.cluster ?? 'unknown',
      destination_service: dst.service?.hostname ?? 'unknown',
      destination_service_namespace: dst.service?.namespace ?? 'unknown',
      destination_service_name: dst.service?.name ?? 'unknown',
      destination_workload: d?.workloadName ?? 'unknown',
      destination_canonical_service: d?.canonicalName ?? 'unknown',
      destination_canonical_revision: d?.canonicalRevision ?? 'unknown',
      destination_workload_namespace: dst.workload?.namespace ?? 'unknown',
      destination_principal: dst.identity ?? 'unknown',
      destination_app: d?.canonicalName ?? 'unknown',
      destination_version: d?.canonicalRevision ?? 'unknown',
      destination_cluster: d?.cluster ?? 'unknown',
      request_protocol: 'tcp',
      response_flags: flag,
      connection_security_policy: this.mtls ? 'mutual_tls' : 'unknown',
    };
  }

  opened(): void {
    this.isOpen = true;
    connectionsOpened.inc(this.labels('-'));
  }

  /** The connection was refused before any byte reached its destination. */
  refused(reason: DenialReason, error: string, flag: ResponseFlag = 'DENY'): void {
    denials.inc({ direction: this.start.direction, reason });
    this.finish({ downToUp: 0, upToDown: 0, error, flag });
  }

  finish(end: TraceEnd): void {
    if (this.done) return;
    this.done = true;
    // A reset in the middle of a transfer is the application's business, not a proxy failure.
    const flag = end.flag ?? '-';
    const labels = this.labels(flag);
    if (this.isOpen) {
      connectionsClosed.inc(labels);
      receivedBytes.inc(labels, end.downToUp);
      sentBytes.inc(labels, end.upToDown);
    }
    if (flag !== '-') connectionsFailed.inc(labels);
    writeAccessLog(this.record(end));
  }

  /** The access-log record of the connection as it stands (the admin API lists open ones so). */
  record(end: Omit<TraceEnd, 'flag'>): AccessRecord {
    // Access-log byte counts are from the application's side, as in ztunnel's access log.
    const outbound = this.start.direction === 'outbound';
    return {
      direction: this.start.direction, src: this.start.src, dst: this.start.dst,
      bytesSent: outbound ? end.downToUp : end.upToDown, bytesRecv: outbound ? end.upToDown : end.downToUp,
      durationMs: performance.now() - this.started,
      decision: this.decision, error: end.error,
    };
  }
}
