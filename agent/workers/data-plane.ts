import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Revocations } from '../identity/index.js';
import type { NetnsHandle } from '../net/index.js';
import type { RegisteredPod } from '../pods/index.js';
import { PodProxies, type OpenConnection, type ProxyDeps } from '../proxy/pod-proxies.js';
import { CERT_WAIT_MS } from '../proxy/outbound.js';
import type { StateStore } from '../state/store.js';
import { levelSettings, observeLogLevels, type Logger } from '../telemetry/log.js';
import type { TunnelCert } from '../tunnel/index.js';
import type { SpiffeId } from '../base/spiffe-id.js';
import { WorkerError } from './errors.js';
import type { Update } from './protocol.js';
import { WorkerHandle } from './worker-handle.js';

export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** How often the trust bundle is compared with what the workers have (the file is re-read as often). */
const TRUST_SYNC_MS = 2_000;

export interface DataPlaneOptions {
  /** Event loops carrying traffic, the main thread's included: 1 runs everything on the main thread. */
  readonly workers: number;
  readonly deps: ProxyDeps;
  /** The store the workers' copies follow. */
  readonly state: StateStore;
  readonly revocations: Pick<Revocations, 'inForce' | 'onChange'>;
  /** Called when a worker is lost for good (it failed and its replacement did not start). */
  readonly onFailure: (why: string) => void;
}

interface Served {
  readonly pod: RegisteredPod;
  readonly netns: NetnsHandle;
}

/**
 * The data plane on several event loops. The main thread is loop 0 and serves every pod as it
 * always did; each worker thread opens the same listeners again (each its own socket, bound with
 * SO_REUSEPORT, so the kernel spreads new connections over the loops by their 4-tuple) and runs
 * the same PodProxies with its own HBONE pool on copies of the mesh state, certificates, trust
 * bundle, CRLs and log levels that this class pushes. A connection stays on the loop that
 * accepted it. A worker that dies is replaced, and the pods are opened in the new one.
 */
export class DataPlane {
  readonly local: PodProxies;
  private readonly workers: WorkerHandle[] = [];
  private readonly served = new Map<string, Served>();
  private hostNode: string | undefined;
  private readonly stops: (() => void)[] = [];
  private trust = '';
  private closing = false;

  private constructor(private readonly options: DataPlaneOptions, private readonly log: Logger) {
    this.local = new PodProxies(options.deps);
  }

  static async start(options: DataPlaneOptions): Promise<DataPlane> {
    const plane = new DataPlane(options, options.deps.log.child('workers'));
    if (options.workers <= 1) return plane;
    const { state, deps, revocations } = options;
    const certs = deps.certs;
    plane.stops.push(
      state.subscribe((change) => plane.broadcast({ type: 'state', batch: state.replicationBatch(change) })),
      certs.onRotate((_id, cert) => plane.broadcast({ type: 'cert', cert: tunnelCert(cert), rotated: true })),
      revocations.onChange(() => plane.broadcast(plane.crlUpdate())),
      observeLogLevels((levels) => plane.broadcast({ type: 'log', levels })),
    );
    const trustTimer = setInterval(() => plane.syncTrust(), TRUST_SYNC_MS).unref();
    plane.stops.push(() => clearInterval(trustTimer));
    try {
      for (let index = 1; index < options.workers; index++) plane.workers.push(plane.spawn(index));
      await Promise.all(plane.workers.map((w) => w.started));
    } catch (err) {
      await plane.stopWorkers();
      throw err;
    }
    plane.log.info('data-plane workers started', { loops: options.workers });
    return plane;
  }

  private spawn(index: number): WorkerHandle {
    const { deps, state } = this.options;
    const handle = new WorkerHandle({ index, settings: state.settings, trustDomain: deps.trustDomain, levels: levelSettings() }, {
      wantCert: (id) => this.giveCert(handle, id),
      failed: (why) => this.replace(handle, why),
    }, this.log);
    handle.post({ type: 'state', batch: state.replicationBatch() });
    handle.post(this.crlUpdate());
    return handle;
  }

  private broadcast(update: Update): void {
    for (const w of this.workers) w.post(update);
  }

  /** Remembers `bundle` as what the workers were sent. */
  private sent(bundle: string[]): string[] {
    this.trust = bundle.join('\n');
    return bundle;
  }

  private crlUpdate(): Update {
    return {
      type: 'crls', bundle: this.sent(this.options.deps.certs.trustBundle()),
      sources: this.options.revocations.inForce().map(({ source, crls }) => ({ source, ders: crls.map((c) => c.der) })),
    };
  }

  private syncTrust(): void {
    const bundle = this.options.deps.certs.trustBundle();
    if (bundle.join('\n') !== this.trust) this.broadcast({ type: 'trust', bundle: this.sent(bundle) });
  }

  private giveCert(worker: WorkerHandle, id: SpiffeId): void {
    this.options.deps.certs.fetch(id, CERT_WAIT_MS).then(
      (cert) => worker.post({ type: 'cert', cert: tunnelCert(cert), rotated: false }),
      (err: unknown) => worker.post({ type: 'cert-failed', id, message: (err as Error).message }),
    );
  }

  /** A worker that failed is replaced by a fresh one serving the same pods; if that fails too, the agent cannot go on. */
  private replace(failed: WorkerHandle, why: string): void {
    const at = this.workers.indexOf(failed);
    if (at < 0 || this.closing) return;
    this.log.error('data-plane worker lost; starting a replacement', { worker: failed.setup.index, why });
    void failed.terminate();
    const fresh = this.spawn(failed.setup.index);
    this.workers[at] = fresh;
    fresh.started
      .then(async () => {
        if (this.hostNode !== undefined) await fresh.call({ type: 'serve-host', node: this.hostNode });
        await Promise.all([...this.served.values()].map((s) => this.addIn(fresh, s.pod, s.netns)));
        this.log.info('data-plane worker replaced', { worker: fresh.setup.index, pods: this.served.size });
      })
      .catch((err: unknown) => this.options.onFailure(`data-plane worker ${fresh.setup.index} could not be replaced: ${(err as Error).message}`));
  }

  private addIn(worker: WorkerHandle, pod: RegisteredPod, netns: NetnsHandle): Promise<void> {
    const netnsPath = netns.shareablePath?.();
    if (netnsPath === undefined) return Promise.reject(new WorkerError(`the namespace of pod ${pod.namespace}/${pod.name} cannot be shared with data-plane workers`));
    return worker.call({ type: 'add-pod', pod, netnsPath, netnsId: netns.id });
  }

  /** Opens the pod's listeners on every loop; resolves once all of them accept. */
  async add(pod: RegisteredPod, netns: NetnsHandle): Promise<void> {
    this.served.set(pod.uid, { pod, netns });
    await Promise.all([this.local.add(pod, netns), ...this.workers.map((w) => this.addIn(w, pod, netns))]);
  }

  async serveHost(node: string, netns: NetnsHandle): Promise<void> {
    this.hostNode = node;
    await Promise.all([this.local.serveHost(node, netns), ...this.workers.map((w) => w.call({ type: 'serve-host', node }))]);
  }

  async remove(uid: string): Promise<void> {
    this.served.delete(uid);
    await Promise.all([this.local.remove(uid), ...this.workers.map((w) => w.call({ type: 'remove-pod', uid }))]);
  }

  async release(uid: string): Promise<void> {
    this.served.delete(uid);
    await Promise.all([this.local.release(uid), ...this.workers.map((w) => w.call({ type: 'release-pod', uid }))]);
  }

  /** The main thread's connections; each worker re-checks its own when its copy of the state changes. */
  recheckPolicies(): void {
    this.local.recheckPolicies();
  }

  async openConnections(): Promise<OpenConnection[]> {
    const lists = await Promise.all(this.workers.map((w) => w.call<OpenConnection[]>({ type: 'connections' }).catch(() => [])));
    return [this.local.openConnections(), ...lists].flat().sort((a, b) => a.ageMs - b.ageMs);
  }

  async connectionCount(): Promise<number> {
    const counts = await Promise.all(this.workers.map((w) => w.call<number>({ type: 'count' }).catch(() => 0)));
    return counts.reduce((a, b) => a + b, this.local.connections.count());
  }

  /** The workers' data-plane metrics, to be summed with the main thread's. */
  workerMetrics(): Promise<WorkerMetrics[]> {
    return Promise.all(this.workers.map((w) => w.call<WorkerMetrics>({ type: 'metrics' }).catch(() => [])));
  }

  get loops(): number {
    return this.workers.length + 1;
  }

  /** Graceful drain on every loop; resolves once all of them have no connection left. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([this.local.close(), ...this.workers.map((w) => w.call({ type: 'drain' }).catch(() => undefined))]);
    await this.stopWorkers();
  }

  destroy(): void {
    this.closing = true;
    this.local.destroy();
    void this.stopWorkers();
  }

  private async stopWorkers(): Promise<void> {
    for (const stop of this.stops.splice(0)) stop();
    await Promise.all(this.workers.splice(0).map((w) => w.terminate()));
  }
}

/** Only what the tunnel needs crosses to a worker (a manager's entry carries more). */
function tunnelCert(cert: TunnelCert): TunnelCert {
  return { id: cert.id, chainPem: cert.chainPem, keyPem: cert.keyPem, rootsPem: cert.rootsPem, serial: cert.serial, notAfter: cert.notAfter };
}
