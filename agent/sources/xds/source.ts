import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { StateStore } from '../../state/store.js';
import type { Logger } from '../../telemetry/log.js';
import { xdsConnected, xdsPushes, xdsReconnects, xdsRejectedResources } from '../../../metrics/agent.js';
import type { ConfigSource, SourceStatus } from '../types.js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE, adsApi, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse__Output } from './api.js';
import { HeldResources } from './resources.js';
import { nextDelay, isRecycle, INITIAL_BACKOFF_MS } from './backoff.js';
import { checkToken } from '../../identity/index.js';
import { DEFAULT_ISTIO_VERSION, type XdsConnection } from './options.js';

export interface XdsSourceOptions extends XdsConnection {
  readonly clusterId: string;
  /** Node id and metadata as ztunnel sends them, so istiod's admission and identity check pass. */
  readonly node: { readonly nodeName: string; readonly podName: string; readonly podNamespace: string; readonly instanceIp: string; readonly istioVersion?: string | undefined };
  readonly store: StateStore;
  readonly log: Logger;
  /** After this long start() resolves on whatever arrived (ztunnel-like readiness deadline). */
  readonly readyDeadlineMs?: number;
}

interface TypeStatus { lastAck?: { version: string; nonce: string }; lastNack?: { version: string; nonce: string; error: string }; resources: number }

export interface XdsStatus extends SourceStatus {
  readonly xds: { readonly address: string; readonly connectedSince?: string; readonly types: Record<string, TypeStatus> };
}

const TYPES = [ADDRESS_TYPE, AUTHORIZATION_TYPE] as const;
const DEFAULT_READY_DEADLINE_MS = 30_000;

/**
 * istiod as the mesh source: one delta ADS stream carrying Address and Authorization, wildcard.
 * Every response becomes one store batch (atomic), then is ACKed — or NACKed naming each
 * rejected resource while the valid rest is applied. Disconnects keep the last state; the
 * reconnect reports what is held so istiod sends only changes and the deletions made meanwhile.
 */
export class XdsSource implements ConfigSource {
  readonly name = 'xds';
  private readonly held = new HeldResources();
  private readonly types: Record<string, TypeStatus> = Object.fromEntries(TYPES.map((t) => [t, { resources: 0 }]));
  private readonly synced = new Set<string>();
  private client: grpc.Client | undefined;
  private stream: grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse__Output> | undefined;
  private backoffMs = INITIAL_BACKOFF_MS;
  private retry: NodeJS.Timeout | undefined;
  private connectedSince: Date | undefined;
  private appliedAt: Date | undefined;
  private lastError: string | undefined;
  private closed = false;
  private ready: (() => void) | undefined;

  constructor(private readonly opts: XdsSourceOptions) {}

  get loadedAt(): Date {
    return this.appliedAt ?? new Date(0);
  }

  start(): Promise<void> {
    return new Promise((resolve) => {
      const deadline = setTimeout(() => {
        this.opts.log.warn('xds: initial push incomplete at the readiness deadline; serving what has arrived', {
          deadlineMs: this.readyDeadline, synced: [...this.synced], counts: this.held.counts(),
        });
        resolve();
      }, this.readyDeadline);
      deadline.unref();
      this.ready = () => { clearTimeout(deadline); resolve(); };
      this.connect();
    });
  }

  private get readyDeadline(): number {
    return this.opts.readyDeadlineMs ?? DEFAULT_READY_DEADLINE_MS;
  }

  /** SIGHUP: reconnect now, re-reading the token and roots. */
  async reload(): Promise<boolean> {
    this.opts.log.info('xds: reconnect requested');
    this.dropStream();
    this.connect();
    return true;
  }

  private credentials(): grpc.ChannelCredentials {
    if (this.opts.plaintext) return grpc.credentials.createInsecure();
    // Re-read per connect: a rotated root is picked up at the next stream.
    return grpc.credentials.createSsl(readFileSync(this.opts.rootFile));
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    md.set('clusterid', this.opts.clusterId);
    if (this.opts.tokenFile !== undefined) {
      // Checked like the CA's: trimmed, header-safe, bounded, never quoted in an error.
      const token = checkToken(readFileSync(this.opts.tokenFile, 'utf8').trim(), this.opts.tokenFile);
      md.set('authorization', `Bearer ${token}`);
    }
    return md;
  }

  private connect(): void {
    if (this.closed) return;
    let stream: grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse__Output>;
    try {
      const { Client } = adsApi();
      // A channel per stream: the roots are re-read, and a wedged channel never outlives its stream.
      const client = this.client = new Client(this.opts.address, this.credentials(), {
        'grpc.ssl_target_name_override': this.opts.serverName,
        'grpc.default_authority': this.opts.serverName,
        // istiod sends the whole mesh in one response.
        'grpc.max_receive_message_length': 200 * 1024 * 1024,
        // istiod's ping enforcement allows one ping per 15 s; 30 s matches ztunnel.
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
        'grpc.keepalive_permit_without_calls': 0,
      });
      stream = client.DeltaAggregatedResources(this.metadata());
    } catch (err) {
      this.failed(err instanceof Error ? err.message : String(err), false);
      return;
    }
    this.stream = stream;
    let responded = false;
    stream.on('data', (res: DeltaDiscoveryResponse__Output) => {
      if (!responded) {
        responded = true;
        this.connectedSince = new Date();
        this.backoffMs = INITIAL_BACKOFF_MS;
        xdsConnected.set(1);
        this.opts.log.info('xds: connected', { address: this.opts.address });
      }
      this.handle(stream, res);
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (this.stream !== stream) return;
      if (responded && isRecycle(err)) {
        this.opts.log.info('xds: stream recycled by the server; reconnecting', { code: err.code, details: err.details });
        this.disconnected('recycle', 0);
        return;
      }
      this.failed(`${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`, responded);
    });
    stream.on('end', () => {
      if (this.stream === stream) this.disconnected('end', 0);
    });
    for (const type_url of TYPES) {
      stream.write({
        type_url, node: this.node(), resource_names_subscribe: [], resource_names_unsubscribe: [],
        initial_resource_versions: this.held.versions(type_url),
      });
    }
  }

  private node(): DeltaDiscoveryRequest['node'] {
    const n = this.opts.node;
    const s = (v: string) => ({ stringValue: v });
    return {
      id: `ztunnel~${n.instanceIp}~${n.podName}.${n.podNamespace}~${n.podNamespace}.svc.cluster.local`,
      metadata: { fields: {
        NAME: s(n.podName), NAMESPACE: s(n.podNamespace), INSTANCE_IPS: s(n.instanceIp), NODE_NAME: s(n.nodeName),
        CLUSTER_ID: s(this.opts.clusterId), ISTIO_VERSION: s(n.istioVersion ?? DEFAULT_ISTIO_VERSION),
      } },
    };
  }

  private handle(stream: NonNullable<XdsSource['stream']>, res: DeltaDiscoveryResponse__Output): void {
    const type = res.type_url;
    const nonce = res.nonce;
    const version = res.system_version_info;
    if (!(TYPES as readonly string[]).includes(type)) {
      this.opts.log.warn('xds: response of an unsubscribed type; ACKed and ignored', { type });
      stream.write({ type_url: type, response_nonce: nonce });
      return;
    }
    const t = this.held.translate(res);
    this.opts.store.apply(t.batch);
    t.commit();
    this.appliedAt = new Date();
    const status = this.types[type]!;
    status.resources = this.held.count(type);
    const labels = { type: type === ADDRESS_TYPE ? 'address' : 'authorization' };
    if (t.rejected.length === 0) {
      stream.write({ type_url: type, response_nonce: nonce });
      status.lastAck = { version, nonce };
      xdsPushes.inc({ ...labels, result: 'ack' });
      this.synced.add(type);
      if (this.synced.size === TYPES.length && this.ready) {
        this.opts.log.info('xds: initial push of every type applied', this.held.counts());
        this.ready();
        this.ready = undefined;
      }
    } else {
      const message = t.rejected.map((r) => `${r.name}: ${r.reason}`).join('; ');
      // Code 3 (INVALID_ARGUMENT): istiod only logs the code, a real one reads better there.
      stream.write({ type_url: type, response_nonce: nonce, error_detail: { code: 3, message } });
      status.lastNack = { version, nonce, error: message };
      this.lastError = message;
      xdsPushes.inc({ ...labels, result: 'nack' });
      xdsRejectedResources.inc(labels, t.rejected.length);
      this.opts.log.warn('xds: resources rejected (NACK); the rest is applied', { type, rejected: t.rejected });
    }
    this.opts.log.debug('xds: response applied', { type, version, resources: res.resources?.length ?? 0, removed: res.removed_resources?.length ?? 0 });
  }

  /** An error before any response is a connect failure (backoff grows); after, a broken stream. */
  private failed(error: string, responded: boolean): void {
    this.lastError = error;
    this.opts.log.error('xds: stream failed; keeping the last state and retrying', { address: this.opts.address, error, retryInMs: this.backoffMs });
    this.disconnected(responded ? 'error' : 'connection_error', this.backoffMs);
    this.backoffMs = nextDelay(this.backoffMs);
  }

  private disconnected(reason: string, delayMs: number): void {
    this.dropStream();
    if (this.closed) return;
    xdsReconnects.inc({ reason });
    this.retry = setTimeout(() => this.connect(), delayMs);
    this.retry.unref();
  }

  private dropStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.connectedSince = undefined;
    xdsConnected.set(0);
    clearTimeout(this.retry);
    stream?.cancel();
    this.client?.close();
    this.client = undefined;
  }

  status(): XdsStatus {
    const state = this.appliedAt === undefined ? 'starting' : this.lastError !== undefined && !this.stream ? 'error' : 'synced';
    return {
      name: this.name, origin: this.opts.address, state,
      ...(this.appliedAt ? { lastAppliedAt: this.appliedAt.toISOString() } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      counts: this.held.counts(),
      xds: {
        address: this.opts.address,
        ...(this.connectedSince ? { connectedSince: this.connectedSince.toISOString() } : {}),
        types: structuredClone(this.types),
      },
    };
  }

  close(): void {
    this.closed = true;
    this.dropStream();
    this.ready?.();
  }
}
