import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { adsApi, type DeltaDiscoveryRequest__Output, type DeltaDiscoveryResponse, type OutgoingPayload } from '../../agent/sources/xds/api.js';

/**
 * A delta ADS server speaking the real protocol over grpc-js, behaving as istiod does for
 * wildcard subscribers: on a stream's first request per type it sends everything the client
 * does not already hold at the same version, and `removed_resources` for names the client
 * reported in `initial_resource_versions` that no longer exist. Later changes go out as
 * incremental pushes. Every request is recorded for assertions (ACKs, NACKs, versions).
 */

export interface AdsResource { readonly name: string; readonly version: string; readonly resource: OutgoingPayload }

type Stream = grpc.ServerDuplexStream<DeltaDiscoveryRequest__Output, DeltaDiscoveryResponse>;

export class AdsServer {
  readonly requests: DeltaDiscoveryRequest__Output[] = [];
  readonly metadata: grpc.Metadata[] = [];
  private readonly resources = new Map<string, Map<string, AdsResource>>();
  private readonly streams = new Set<Stream>();
  private server: grpc.Server | undefined;
  private counter = 0;
  port = 0;

  constructor(private readonly credentials: () => grpc.ServerCredentials) {}

  async start(port = 0): Promise<number> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
    server.addService(adsApi().service, { DeltaAggregatedResources: (s: Stream) => this.serve(s) });
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, this.credentials(), (err, p) => err ? reject(err) : resolve(p)));
    this.server = server;
    return this.port;
  }

  /** Drops every stream and stops listening (istiod going away). */
  stop(): void {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    this.server?.forceShutdown();
    this.server = undefined;
  }

  nacks(): DeltaDiscoveryRequest__Output[] {
    return this.requests.filter((r) => r.error_detail && r.error_detail.message !== '');
  }

  acks(): DeltaDiscoveryRequest__Output[] {
    return this.requests.filter((r) => r.response_nonce && !(r.error_detail && r.error_detail.message !== ''));
  }

  /** Changes the server's state without telling connected clients (a change made while they are away). */
  set(typeUrl: string, upsert: readonly AdsResource[], remove: readonly string[] = []): void {
    const map = this.of(typeUrl);
    for (const r of upsert) map.set(r.name, r);
    for (const n of remove) map.delete(n);
  }

  /** Changes the state and pushes the change to every connected client. */
  push(typeUrl: string, upsert: readonly AdsResource[], remove: readonly string[] = []): void {
    this.set(typeUrl, upsert, remove);
    for (const s of this.streams) this.send(s, typeUrl, upsert, remove);
  }

  private of(typeUrl: string): Map<string, AdsResource> {
    let map = this.resources.get(typeUrl);
    if (!map) this.resources.set(typeUrl, map = new Map());
    return map;
  }

  private send(s: Stream, typeUrl: string, resources: readonly AdsResource[], removed: readonly string[]): void {
    const version = `2026-01-01T00:00:00Z/${++this.counter}`;
    s.write({ type_url: typeUrl, system_version_info: version, nonce: `${version}${randomUUID()}`, resources: [...resources], removed_resources: [...removed] });
  }

  private serve(s: Stream): void {
    this.streams.add(s);
    this.metadata.push(s.metadata);
    const started = new Set<string>();
    s.on('data', (req: DeltaDiscoveryRequest__Output) => {
      this.requests.push(req);
      if (started.has(req.type_url) || req.response_nonce) return;
      started.add(req.type_url);
      const known = req.initial_resource_versions;
      const map = this.of(req.type_url);
      const send = [...map.values()].filter((r) => r.version === "" || known[r.name] !== r.version);
      const removed = Object.keys(known).filter((n) => !map.has(n));
      this.send(s, req.type_url, send, removed);
    });
    s.on('error', () => this.streams.delete(s));
    s.on('end', () => { this.streams.delete(s); s.end(); });
  }
}
