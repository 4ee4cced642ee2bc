import { isIP } from 'node:net';
import { createLogger, type Logger } from './telemetry/log.js';
import type { MeshSettings, Workload } from './model/types.js';
import { createCertManager, CrlFile, Revocations, type CertManager, type CertManagerOptions } from './identity/index.js';
import { currentNetns, type NetnsHandle } from './net/index.js';
import { HostCapture, type HostModeOptions } from './host/index.js';
import { DataPlane } from './workers/data-plane.js';
import { CniApiServer, EnrollmentFile, LiveEnrollment, PodRegistry, PodStore } from './pods/index.js';
import { AdminServer } from './admin/server.js';
import { buildConfigDump } from './admin/config-dump.js';
import { Readiness } from './lifecycle/readiness.js';
import { ReadinessServer } from './lifecycle/readiness-server.js';
import { allCertificatesCondition, certificatesCondition } from './lifecycle/readiness-certs.js';
import { agentStatus } from './admin/status.js';
import { DescriptorProbe } from './lifecycle/readiness-descriptors.js';
import { ShutdownTrigger } from './lifecycle/shutdown.js';
import { Components } from './lifecycle/components.js';
import { listenOn, type BoundAddress, type PortBinder } from './base/http-endpoint.js';
import { packageVersion } from './base/install-layout.js';
import { StateStore } from './state/store.js';
import { IdentityRefs } from './state/identity-refs.js';
import { affectsAuthorization } from './state/types.js';
import { YamlSource } from './sources/yaml/source.js';
import type { XdsAgentOptions } from './sources/xds/options.js';
import type { XdsSource } from './sources/xds/source.js';
import { KubeEnrolment, KubeSource, type KubeAgentOptions } from './sources/kube/index.js';
import { MetricsServer } from '../metrics/server.js';
import { collectProcessMetrics } from '../metrics/registry.js';
import { build, reportReadiness } from '../metrics/agent.js';

/** The mesh source: a local YAML config, istiod over xDS, or the Kubernetes API; exactly one. */
export type MeshSourceOptions =
  | { readonly configPath: string; readonly xds?: undefined; readonly kube?: undefined }
  /** With istiod, `kube` is for enrolment only: ambient namespaces in, the redirection annotation out. */
  | { readonly xds: XdsAgentOptions; readonly configPath?: undefined; readonly kube?: KubeAgentOptions | undefined }
  | { readonly kube: KubeAgentOptions; readonly configPath?: undefined; readonly xds?: undefined };

export type AgentOptions = MeshSourceOptions & AgentCoreOptions;

interface AgentCoreOptions {
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
  /** `--workers`: event loops carrying traffic, the main thread's included (default 1). */
  readonly workers?: number;
  /** `--crl`: a CRL file or an `istio-ca-crl` ConfigMap directory, watched. */
  readonly crlPath?: string | undefined;
  /** Not ready until every local identity has a valid certificate (`--ready-requires-certs`). */
  readonly readyRequiresCerts?: boolean;
  /**
   * Host-network mode (a VM, bare metal): serve the WorkloadEntries on `node` from the agent's
   * own netns, with capture rules installed there; no pods, no CNI API.
   */
  readonly hostMode?: HostModeOptions | undefined;
}

/**
 * What the composition root can be handed instead of the real thing, so the whole agent runs
 * in-process in a test: the CA client (as the certificate manager it feeds), the netns opener,
 * the log sink. Everything omitted is the production component.
 */
export interface AgentDeps {
  readonly log?: Logger;
  readonly certs?: (options: CertManagerOptions & { log: Logger }) => CertManager;
  readonly openNetns?: (path: string) => NetnsHandle;
  /** Process metrics (CPU, memory, fds) are collected once per process; a test agent skips them. */
  readonly processMetrics?: boolean;
}

/** A running agent: the addresses it actually bound (port 0 resolved) and its stop handle. */
export interface Bound {
  readonly addresses: { admin: BoundAddress; metrics: BoundAddress; readiness: BoundAddress; cniSocket: string };
  readonly readiness: Readiness;
  readonly state: StateStore;
  /** Resolves when SIGTERM/SIGINT/`/quitquitquit` asked for a shutdown (the caller then calls shutdown()). */
  readonly shutdownRequested: Promise<string>;
  readonly trigger: ShutdownTrigger;
  /** Re-reads the mesh config now (SIGHUP); false when it was rejected. */
  reload(): Promise<boolean>;
  /** Graceful drain within the deadline, then force; idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Node ports are bound with SO_REUSEPORT: during a rolling update the new agent binds them while
 * the old one still serves, and the old one's close hands over without a refused connection. A
 * host name (not an address) is bound the plain way, unshared.
 */
const sharedPort: PortBinder = (server, host, port) => {
  if (host === '') return currentNetns().listen(port, { server });
  return isIP(host) ? currentNetns().listen(port, { host, server }) : listenOn(server, host, port);
};

function agentVersion(): string {
  try {
    return packageVersion();
  } catch {
    return 'unknown';
  }
}

/** A workload this node serves needs its identity; one outside the mesh never sends through the agent. */
function isLocalMeshWorkload(w: Workload | undefined, node: string): w is Workload {
  return w !== undefined && w.node === node && w.protocol === 'HBONE';
}

/**
 * istiod when `--xds-address` was given, the Kubernetes API with `--kube`, the local YAML config
 * otherwise. The xDS source (and gRPC with it, several MB of every process that loads it) is
 * loaded only when selected.
 */
async function createSource(options: AgentOptions, store: StateStore, log: Logger): Promise<YamlSource | XdsSource | KubeSource> {
  const x = options.xds;
  if (options.kube && !x) return new KubeSource({ ...options.kube, settings: options.settings, store, log });
  if (!x) return new YamlSource({ path: options.configPath, settings: options.settings, store, log });
  const { XdsSource } = await import('./sources/xds/source.js');
  return new XdsSource({
    address: x.address, serverName: x.serverName, rootFile: x.rootFile, tokenFile: x.tokenFile, plaintext: x.plaintext,
    clusterId: options.identity.clusterId, store, log,
    node: { nodeName: options.node, podName: x.podName, podNamespace: x.podNamespace, instanceIp: x.instanceIp, istioVersion: x.istioVersion },
  });
}

/**
 * The composition root. Builds the agent in data-flow order — state store ← config source →
 * certificates → pod proxies → pod registry (restored from disk) → CNI API → admin/metrics —
 * binding every listener before declaring readiness, and returns the bound addresses. Every
 * started component goes on one list: a start-up failure destroys what the list holds, a
 * shutdown drains it.
 */
export async function buildApp(options: AgentOptions, deps: AgentDeps = {}): Promise<Bound> {
  const log = deps.log ?? createLogger('agent');
  if (deps.processMetrics !== false) collectProcessMetrics();
  const readiness = new Readiness(log.child('readiness'));
  const configReady = readiness.block('mesh config', options.xds
    ? `the first state from istiod at ${options.xds.address}${options.kube ? ' and the namespaces from the Kubernetes API' : ''}`
    : options.kube ? 'the initial list of every resource from the Kubernetes API' : `the first load of ${options.configPath}`);
  const podsReady = readiness.block('pod registry', 'persisted pods to listen again and every server to bind');
  const trigger = new ShutdownTrigger();
  const components = new Components(log.child('drain'));
  try {
    const readinessServer = new ReadinessServer(readiness);
    const readinessAddress = await readinessServer.start(options.readiness.host, options.readiness.port, sharedPort);
    components.add({ name: 'readiness', stage: 'intake', close: () => readinessServer.close(), destroy: () => readinessServer.destroy() });
    const descriptors = new DescriptorProbe(log.child('readiness'));
    descriptors.start();
    components.add({ name: 'descriptor probe', stage: 'intake', close: async () => descriptors.stop(), destroy: () => descriptors.stop() });
    readiness.condition('descriptors', () => descriptors.failure());

    const state = new StateStore(options.settings, log.child('state'));
    const source = await createSource(options, state, log.child('config'));
    components.add({ name: 'config source', stage: 'intake', close: async () => source.close(), destroy: () => source.close() });
    // Next to istiod, enrolment still comes from Kubernetes (namespaces in, annotations out).
    const enrolment = options.xds && options.kube ? new KubeEnrolment({ kubeconfig: options.kube.kubeconfig, store: state, log: log.child('enrolment') }) : undefined;
    if (enrolment) components.add({ name: 'kubernetes enrolment', stage: 'intake', close: async () => enrolment.close(), destroy: () => enrolment.close() });
    await Promise.all([source.start(), enrolment?.start()]);
    configReady();
    const sourceStatuses = () => enrolment ? [source.status(), enrolment.status()] : [source.status()];

    const makeCerts = deps.certs ?? createCertManager;
    const certs: CertManager = makeCerts({ ...options.identity, log: log.child('certs') });
    components.add({ name: 'certificates', stage: 'release', close: () => certs.close(), destroy: () => void certs.close() });
    const identities = new IdentityRefs((wanted) => certs.setIdentities(wanted));
    readiness.condition('certificates', certificatesCondition(certs));
    if (options.readyRequiresCerts) readiness.condition('all certificates', allCertificatesCondition(certs));

    // CRLs from --crl and from the CA's push, verified against the peers' trust bundle.
    const revocations = new Revocations(() => certs.trustBundle());
    certs.useRevocations(revocations, true);
    if (options.crlPath !== undefined) {
      const crlFile = await CrlFile.start(options.crlPath, revocations, log.child('revocations'));
      components.add({ name: 'crl file', stage: 'release', close: async () => crlFile.close(), destroy: () => crlFile.close() });
    }

    const proxies = await DataPlane.start({
      workers: options.workers ?? 1, state, revocations,
      deps: { mesh: () => state, policies: () => state.policies, certs, revocations, trustDomain: options.settings.trustDomain, log: log.child('proxy') },
      onFailure: (why) => { log.error('the data plane cannot go on; shutting down', { why }); trigger.trigger(`data plane failed: ${why}`); },
    });
    components.add({ name: 'pod proxies', stage: 'drain', close: () => proxies.close(), destroy: () => proxies.destroy() });

    const pods = options.hostMode
      ? await serveHost(proxies, options)
      : await servePods({ options, deps, state, proxies, identities, components, log, ...(enrolment ? { annotate: (pods) => enrolment.annotate(pods) } : {}) });

    identities.batch(() => {
      for (const w of state.workloadsOnNode(options.node)) if (isLocalMeshWorkload(w, options.node)) identities.hold(`workload:${w.uid}`, state.identityOf(w));
    });
    state.subscribe((change) => {
      identities.batch(() => {
        for (const uid of [...change.workloads.added, ...change.workloads.changed, ...change.workloads.removed]) {
          const w = state.workloadByUid(uid);
          identities.hold(`workload:${uid}`, isLocalMeshWorkload(w, options.node) ? state.identityOf(w) : undefined);
        }
        pods.holdIdentities();
      });
      if (affectsAuthorization(change)) proxies.recheckPolicies();
    });
    const version = agentVersion();
    // ztunnel's component name, so Istio's dashboards count this node proxy with the others.
    build.set({ component: 'ztunnel', tag: version }, 1);
    reportReadiness(() => readiness.isReady());
    // Flags only: the token is read from its file on every request and never held here.
    const effectiveConfig = { ...options, version };
    const admin = new AdminServer({
      certs: () => certs.status(),
      pods: () => pods.list(),
      mesh: state,
      connections: () => proxies.openConnections(),
      status: async () => agentStatus({
        node: options.node, version, readiness, sources: sourceStatuses(), certificates: certs.status(),
        pods: pods.list().length, connections: await proxies.connectionCount(),
      }),
      configDump: () => buildConfigDump({
        snapshot: state.snapshot(), pods: pods.list(), certificates: certs.status(), sources: sourceStatuses(), revocations: revocations.status(),
        config: effectiveConfig, version, configLoadedAt: source.loadedAt,
      }),
      shutdown: (reason) => trigger.trigger(reason),
      log: log.child('admin'),
    });
    const adminAddress = await admin.start(options.admin.host, options.admin.port, sharedPort);
    components.add({ name: 'admin', stage: 'drain', close: () => admin.close(), destroy: () => admin.destroy() });

    const metrics = new MetricsServer(() => proxies.workerMetrics());
    const metricsAddress = await metrics.start(options.metrics.host, options.metrics.port, sharedPort);
    components.add({ name: 'metrics', stage: 'drain', close: () => metrics.close(), destroy: () => metrics.destroy() });

    if (options.hostMode) {
      const capture = new HostCapture({
        node: options.node, options: options.hostMode, state, stateDir: options.stateDir, log: log.child('host-rules'),
        agent: { uid: process.getuid?.() ?? 0, ports: [adminAddress.port, metricsAddress.port, readinessAddress.port] },
      });
      await capture.start();
      components.add({ name: 'host capture rules', stage: 'intake', close: () => capture.close(), destroy: () => void capture.close() });
    }
    if (source instanceof YamlSource) source.watch();
    // Every listener is bound and every restored pod is listening: only now report ready.
    podsReady();

    const addresses = { admin: adminAddress, metrics: metricsAddress, readiness: readinessAddress, cniSocket: options.cniSocket };
    log.info('agent ready', { node: options.node, addresses, identities: [...identities.wanted()], pods: pods.list().length, hostMode: options.hostMode !== undefined });

    let stopping: Promise<void> | undefined;
    const shutdown = () => stopping ??= (async () => {
      trigger.trigger('shutdown');
      log.info('draining', { deadlineMs: options.drainDeadlineMs });
      await components.drain(options.drainDeadlineMs);
      log.info('agent stopped');
    })();

    return { addresses, readiness, state, shutdownRequested: trigger.requested, trigger, reload: () => source.reload(), shutdown };
  } catch (err) {
    await components.destroyAll();
    throw err;
  }
}

/** What the admin API and identities read of the pods this agent serves. */
interface ServedPods {
  list(): ReturnType<PodRegistry['list']>;
  /** Re-counts the identities the registered pods hold (after a mesh change). */
  holdIdentities(): void;
}

/** Host mode: one set of capture listeners in the agent's own netns; there are no pods. */
async function serveHost(proxies: DataPlane, options: AgentOptions): Promise<ServedPods> {
  await proxies.serveHost(options.node, currentNetns());
  return { list: () => [], holdIdentities: () => undefined };
}

interface PodWiring {
  readonly options: AgentOptions;
  readonly deps: AgentDeps;
  readonly state: StateStore;
  readonly proxies: DataPlane;
  readonly identities: IdentityRefs;
  readonly components: Components;
  readonly log: Logger;
  /** Told the pods captured now, after every registry change (istiod's redirection annotation). */
  readonly annotate?: (pods: readonly { namespace: string; name: string }[]) => void;
}

/** Pod mode: the registry (restored from --state-dir), its identities and the CNI API. */
async function servePods({ options, deps, state, proxies, identities, components, log, annotate }: PodWiring): Promise<ServedPods> {
  const enrollment = (ns: string, name: string) => state.podEnrollment(ns, name);
  const pods = new PodRegistry({
    store: new PodStore(options.stateDir), listeners: proxies, log: log.child('pods'), enrollment,
    ...(deps.openNetns ? { openNetns: deps.openNetns } : {}),
    onChange: () => { holdPodIdentities(); annotate?.(pods.list()); },
  });
  components.add({ name: 'pod registry', stage: 'release', close: async () => pods.close(), destroy: () => pods.close() });
  // A registered pod holds the identity of its workload while the state enrols it.
  const holdPodIdentities = () => {
    const keep = new Set<string>();
    identities.batch(() => {
      for (const pod of pods.list()) {
        const { enrolled, workload } = state.podEnrollment(pod.namespace, pod.name);
        keep.add(`pod:${pod.uid}`);
        identities.hold(`pod:${pod.uid}`, enrolled && workload ? state.identityOf(workload) : undefined);
      }
      identities.releaseOthers('pod:', keep);
    });
  };

  const live = new LiveEnrollment({ registry: pods, observed: new PodStore(options.stateDir, 'observed'), enrollment, log: log.child('enrollment') });
  const enrollmentFile = new EnrollmentFile({ cniSocket: options.cniSocket, node: options.node, meshNamespaces: () => state.meshNamespaces(), log: log.child('enrollment') });
  components.add({ name: 'enrollment file', stage: 'intake', close: async () => enrollmentFile.close(), destroy: () => enrollmentFile.close() });
  state.subscribe((change) => {
    // Only pods and namespaces decide enrollment; policies and services do not.
    if (change.workloads.added.length + change.workloads.changed.length + change.workloads.removed.length
      + change.ambientNamespaces.added.length + change.ambientNamespaces.removed.length === 0) return;
    live.schedule();
    enrollmentFile.schedule();
  });

  // The socket is taken over before the registrations are read: a pod an older agent still
  // registers during a rolling update is on disk by then (persisted before it is acknowledged).
  const cniApi = new CniApiServer({ registry: pods, enrollment, live, log: log.child('cni-api') }, options.cniSocket);
  await cniApi.start();
  components.add({ name: 'cni api', stage: 'intake', close: () => cniApi.close(), destroy: () => void cniApi.close() });
  await enrollmentFile.publish();

  const restored = await pods.restore();
  log.info('pod registrations restored', { ...restored, uncaptured: await live.restore() });
  // Enrollment may have changed while no agent ran: capture and release what differs now.
  live.schedule();
  return { list: () => pods.list(), holdIdentities: holdPodIdentities };
}
