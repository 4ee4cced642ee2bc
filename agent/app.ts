import { readFileSync } from 'node:fs';
import { createLogger, type Logger } from './telemetry/log.js';
import type { MeshSettings, MeshSnapshot } from './model/types.js';
import { loadMeshConfig } from './model/load.js';
import { MeshIndex } from './model/mesh-index.js';
import { compilePolicies, type CompiledPolicies } from './authz/index.js';
import { createCertManager, type CertManager, type CertManagerOptions } from './identity/cert-manager.js';
import type { SpiffeId } from './identity/spiffe-id.js';
import { PodProxies } from './proxy/pod-proxies.js';
import { PodStore } from './pods/store.js';
import { PodRegistry } from './pods/registry.js';
import { CniApiServer } from './pods/cni-api.js';
import { AdminServer } from './admin/server.js';
import { buildConfigDump } from './admin/config-dump.js';
import { Readiness } from './lifecycle/readiness.js';
import { ReadinessServer } from './lifecycle/readiness-server.js';
import { certificatesCondition } from './lifecycle/readiness-certs.js';
import { DescriptorProbe } from './lifecycle/readiness-descriptors.js';
import { MeshConfig } from './lifecycle/config-reload.js';
import { ShutdownTrigger } from './lifecycle/shutdown.js';
import { drainAll } from './lifecycle/drain.js';
import type { BoundAddress } from './lifecycle/http-endpoint.js';
import { MetricsServer } from '../metrics/server.js';
import { collectProcessMetrics } from '../metrics/registry.js';

export interface AgentOptions {
  readonly configPath: string;
  /** Also `identity.node`; kept here because pods and certificates both key on it. */
  readonly node: string;
  readonly settings: MeshSettings;
  readonly identity: CertManagerOptions;
  readonly cniSocket: string;
  readonly stateDir: string;
  readonly admin: BoundAddress;
  readonly metrics: BoundAddress;
  readonly readiness: BoundAddress;
  readonly drainDeadlineMs: number;
}

/** A running agent: the addresses it actually bound (port 0 resolved) and its stop handle. */
export interface Bound {
  readonly addresses: { admin: BoundAddress; metrics: BoundAddress; readiness: BoundAddress; cniSocket: string };
  readonly readiness: Readiness;
  /** Resolves when SIGTERM/SIGINT/`/quitquitquit` asked for a shutdown (the caller then calls shutdown()). */
  readonly shutdownRequested: Promise<string>;
  readonly trigger: ShutdownTrigger;
  /** Re-reads the mesh config now (SIGHUP); false when it was rejected. */
  reload(): Promise<boolean>;
  /** Graceful drain within the deadline, then force; idempotent. */
  shutdown(): Promise<void>;
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The mesh model and what is derived from it, swapped as one on every config change. */
interface MeshState {
  index: MeshIndex;
  policies: CompiledPolicies;
}

function derive(snapshot: MeshSnapshot): MeshState {
  return { index: new MeshIndex(snapshot), policies: compilePolicies(snapshot) };
}

/**
 * Identities this node needs: enrolled workloads the config places on it plus CNI-registered pods.
 * A workload outside the mesh never sends through the agent, so it gets no certificate.
 */
function wantedIdentities(state: MeshState, node: string, registry: PodRegistry | undefined): Set<SpiffeId> {
  const local = state.index.workloadsOnNode(node).filter((w) => w.protocol === 'HBONE');
  const ids = new Set<SpiffeId>(local.map((w) => state.index.identityOf(w)));
  for (const pod of registry?.list() ?? []) {
    const { enrolled, workload } = state.index.podEnrollment(pod.namespace, pod.name);
    if (enrolled && workload) ids.add(state.index.identityOf(workload));
  }
  return ids;
}

/**
 * The composition root. Builds the agent in data-flow order — config → mesh index → policies →
 * certificates → pod proxies → pod registry (restored from disk) → CNI API → admin/metrics — binding
 * every listener before declaring readiness, and returns the bound addresses.
 */
export async function buildApp(options: AgentOptions, log: Logger = createLogger('agent')): Promise<Bound> {
  collectProcessMetrics();
  const readiness = new Readiness(log.child('readiness'));
  const configReady = readiness.block('mesh config');
  const podsReady = readiness.block('pod registry');
  const trigger = new ShutdownTrigger();
  const stops: (() => Promise<void>)[] = [];
  const cleanup = async () => { for (const stop of stops.reverse()) await stop().catch(() => undefined); };
  try {
    const readinessServer = new ReadinessServer(readiness);
    const readinessAddress = await readinessServer.start(options.readiness.host, options.readiness.port);
    stops.push(() => readinessServer.close());
    const descriptors = new DescriptorProbe(log.child('readiness'));
    descriptors.start();
    stops.push(async () => descriptors.stop());
    readiness.condition('descriptors', () => descriptors.failure());

    let registry: PodRegistry | undefined;
    let state!: MeshState;
    const meshConfig = new MeshConfig({
      path: options.configPath, settings: options.settings, load: loadMeshConfig, log: log.child('config'),
      onChange: (snapshot) => {
        state = derive(snapshot);
        certs.setIdentities(wantedIdentities(state, options.node, registry));
        proxies.recheckPolicies();
      },
    });
    state = derive(await meshConfig.initial());
    configReady();

    const certs: CertManager = createCertManager({ ...options.identity, log: log.child('certs') });
    stops.push(() => certs.close());
    certs.setIdentities(wantedIdentities(state, options.node, undefined));
    readiness.condition('certificates', certificatesCondition(certs));

    const proxies = new PodProxies({
      mesh: () => state.index, policies: () => state.policies, certs,
      trustDomain: options.settings.trustDomain, log: log.child('proxy'),
    });
    stops.push(async () => proxies.destroy());

    const pods = new PodRegistry({
      store: new PodStore(options.stateDir), listeners: proxies, log: log.child('pods'),
      enrollment: (ns, name) => state.index.podEnrollment(ns, name),
      onChange: () => certs.setIdentities(wantedIdentities(state, options.node, pods)),
    });
    registry = pods;
    stops.push(async () => pods.close());
    const restored = await pods.restore();
    log.info('pod registrations restored', restored);

    const cniApi = new CniApiServer({ registry: pods, enrollment: (ns, name) => state.index.podEnrollment(ns, name), log: log.child('cni-api') }, options.cniSocket);
    await cniApi.start();
    stops.push(() => cniApi.close());

    const version = packageVersion();
    // Flags only: the token is read from its file on every request and never held here.
    const effectiveConfig = { ...options, version };
    const admin = new AdminServer({
      certs: () => certs.status(),
      pods: () => pods.list(),
      configDump: () => buildConfigDump({
        snapshot: state.index.snapshot, pods: pods.list(), certificates: certs.status(),
        config: effectiveConfig, version, configLoadedAt: meshConfig.loadedAt,
      }),
      shutdown: (reason) => trigger.trigger(reason),
      log: log.child('admin'),
    });
    const adminAddress = await admin.start(options.admin.host, options.admin.port);
    stops.push(() => admin.close());

    const metrics = new MetricsServer();
    const metricsAddress = await metrics.start(options.metrics.host, options.metrics.port);
    stops.push(() => metrics.close());

    meshConfig.watch();
    stops.push(async () => meshConfig.close());
    // Every listener is bound and every restored pod is listening: only now report ready.
    podsReady();

    const addresses = { admin: adminAddress, metrics: metricsAddress, readiness: readinessAddress, cniSocket: options.cniSocket };
    log.info('agent ready', { node: options.node, addresses, identities: [...wantedIdentities(state, options.node, pods)], pods: pods.list().length });

    let stopping: Promise<void> | undefined;
    const shutdown = () => stopping ??= (async () => {
      trigger.trigger('shutdown');
      log.info('draining', { deadlineMs: options.drainDeadlineMs });
      meshConfig.close();
      // Readiness and the CNI API stop first: probes fail by refusal, no new pods arrive.
      await Promise.all([readinessServer.close(), cniApi.close()]);
      await drainAll([
        { name: 'pod proxies', close: () => proxies.close(), destroy: () => proxies.destroy() },
        { name: 'admin', close: () => admin.close(), destroy: () => admin.destroy() },
        { name: 'metrics', close: () => metrics.close(), destroy: () => metrics.destroy() },
      ], options.drainDeadlineMs, log.child('drain'));
      pods.close();
      descriptors.stop();
      await certs.close();
      log.info('agent stopped');
    })();

    return { addresses, readiness, shutdownRequested: trigger.requested, trigger, reload: () => meshConfig.reload(), shutdown };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
