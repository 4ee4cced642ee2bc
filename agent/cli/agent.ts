import { join } from 'node:path';
import { identityFlagSpecs, identityFlagsUsage, parseIdentityOptions } from './identity-flags.js';
import { checkNetPrivileges, notifySystemd, raiseFileLimit } from '../net/index.js';
import { DEFAULT_CNI_SOCKET } from '../pods/index.js';
import { DEFAULT_DRAIN_DEADLINE_MS } from '../lifecycle/drain.js';
import { ConfigLoadError } from '../sources/yaml/source.js';
import { handleSignals } from '../lifecycle/shutdown.js';
import { createLogger } from '../telemetry/log.js';
import { availableParallelism } from 'node:os';
import { parseCount, parseDuration, parseFlags, parseHostPort, parseTrustDomain, requireFlag } from './flags.js';
import { UsageError } from './usage-error.js';
import { DEFAULT_STATE_DIR } from './state-dir.js';
import { hostFlagSpecs, hostFlagsUsage, parseHostFlags } from './host-flags.js';
import { parseXdsOptions, xdsFlagSpecs, xdsFlagsUsage } from './xds-options.js';

const MAX_WORKERS = 64;
/**
 * The default takes half the node's cores, at most 4: the node's workloads need cores too (on a
 * 2-core node a second loop only competed with them in the bench), and each loop beyond the
 * first holds its own copy of the mesh state and its own HBONE pool (~17 MB idle).
 */
const DEFAULT_WORKERS_CAP = 4;

function defaultWorkers(): number {
  return Math.max(1, Math.min(Math.floor(availableParallelism() / 2), DEFAULT_WORKERS_CAP));
}

/** Exit code for a mesh config that cannot be loaded at start-up (EX_USAGE-style, as linkerd). */
export const EXIT_BAD_CONFIG = 64;

export const usage = `usage: meshnode agent (--config PATH | --xds-address HOST:PORT | --kube) --node NAME --ca-address HOST:PORT [flags]

Runs the node agent: certificates for the node's workloads, per-pod capture listeners
(15001/15006/15008 inside each registered pod's netns), HBONE mTLS, L4 authorization.
Needs root (CAP_SYS_ADMIN for setns, CAP_NET_ADMIN for socket marks). With --host-mode it
serves the node's WorkloadEntries from the host network instead, as a dedicated non-root user
with CAP_NET_ADMIN and CAP_NET_RAW (its traffic is exempt from capture by that user id).

  --config PATH              mesh config (YAML file or directory); watched and reloaded, SIGHUP reloads
${xdsFlagsUsage}
  --kube                     list and watch the Kubernetes API (pods, services, namespaces, Istio policies) instead of --config;
                             with --xds-address, only namespaces for enrolment, and annotate captured pods for istiod
  --kubeconfig FILE          with --kube: this kubeconfig instead of the pod's in-cluster service account
${identityFlagsUsage}
  --cni-socket PATH          pod registration API socket (default ${DEFAULT_CNI_SOCKET})
  --state-dir DIR            persisted pod registrations (default ${DEFAULT_STATE_DIR})
  --admin-address HOST:PORT  admin API (default 127.0.0.1:15000)
  --metrics-address HOST:PORT  Prometheus /metrics (default 0.0.0.0:15020)
  --readiness-address HOST:PORT  /healthz/ready (default 0.0.0.0:15021)
  --trust-domain TD          mesh trust domain (default cluster.local)
  --root-namespace NS        namespace whose policies apply mesh-wide (default istio-system)
  --drain-deadline DURATION  graceful drain before connections are force-closed (default 5s)
  --workers N                event loops carrying traffic, the main thread's included (1 to ${MAX_WORKERS};
                             default half the CPU count, 1 to ${DEFAULT_WORKERS_CAP}: here ${defaultWorkers()})
  --crl PATH                 CRLs to enforce on peers: a PEM file (any number of X509 CRL blocks),
                             a DER file, or a directory holding ca-crl.pem (istiod's istio-ca-crl
                             ConfigMap); watched, the last good CRLs kept when it turns bad
  --ready-requires-certs     not ready until every local workload's certificate is issued
${hostFlagsUsage}

Exit codes: 0 after a drain, 1 start-up failure (privileges, ports), 2 bad flags, ${EXIT_BAD_CONFIG} bad mesh config.`;

const agentFlagSpecs = {
  config: { type: 'string' },
  kube: { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  'cni-socket': { type: 'string', default: DEFAULT_CNI_SOCKET },
  'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
  'admin-address': { type: 'string', default: '127.0.0.1:15000' },
  'metrics-address': { type: 'string', default: '0.0.0.0:15020' },
  'readiness-address': { type: 'string', default: '0.0.0.0:15021' },
  'trust-domain': { type: 'string', default: 'cluster.local' },
  'root-namespace': { type: 'string', default: 'istio-system' },
  'drain-deadline': { type: 'string' },
  workers: { type: 'string' },
  crl: { type: 'string' },
  'ready-requires-certs': { type: 'boolean', default: false },
} as const;

function parseAgentFlags(argv: string[]) {
  const values = parseFlags(argv, { ...identityFlagSpecs, ...agentFlagSpecs, ...xdsFlagSpecs, ...hostFlagSpecs });
  const drain = values['drain-deadline'];
  const hostMode = parseHostFlags(values);
  // A VM's token is a short-lived bootstrap credential: once it has a certificate, that renews it.
  // It survives a restart through its certificate files (default under --state-dir).
  const parsedIdentity = parseIdentityOptions(values);
  const identity = hostMode
    ? { ...parsedIdentity, renewWithCertificate: true, certDir: parsedIdentity.certDir ?? join(values['state-dir'], 'certs') }
    : parsedIdentity;
  const xds = parseXdsOptions(values, { rootFile: identity.caRootFile, tokenFile: identity.tokenFile, node: identity.node });
  // Next to istiod --kube is allowed: it then serves enrolment only (namespaces, the redirection annotation).
  const sources = [values.config !== undefined && '--config', xds && '--xds-address', !xds && values.kube && '--kube'].filter(Boolean);
  if (sources.length > 1) throw new UsageError(`${sources.join(' and ')} are alternative mesh sources; give one`);
  if (values.kubeconfig !== undefined && !values.kube) throw new UsageError('--kubeconfig needs --kube');
  return {
    ...(xds ? { xds, ...(values.kube ? { kube: { kubeconfig: values.kubeconfig } } : {}) } : values.kube ? { kube: { kubeconfig: values.kubeconfig } } : { configPath: requireFlag(values.config, 'config') }),
    node: identity.node,
    settings: { trustDomain: parseTrustDomain(values['trust-domain'], 'trust-domain'), rootNamespace: values['root-namespace'] },
    identity,
    cniSocket: values['cni-socket'],
    stateDir: values['state-dir'],
    admin: parseHostPort(values['admin-address'], 'admin-address'),
    metrics: parseHostPort(values['metrics-address'], 'metrics-address'),
    readiness: parseHostPort(values['readiness-address'], 'readiness-address'),
    drainDeadlineMs: drain === undefined ? DEFAULT_DRAIN_DEADLINE_MS : parseDuration(drain, 'drain-deadline'),
    workers: values.workers === undefined ? defaultWorkers() : parseCount(values.workers, 'workers', 1, MAX_WORKERS),
    crlPath: values.crl === undefined ? undefined : requireFlag(values.crl, 'crl'),
    readyRequiresCerts: values['ready-requires-certs'],
    hostMode,
  };
}

export async function run(argv: string[]): Promise<number> {
  const options = parseAgentFlags(argv);
  const log = createLogger('agent');
  if (options.hostMode && process.getuid?.() === 0) {
    process.stderr.write('meshnode agent: --host-mode exempts the agent\'s own traffic from capture by its user id, and as root ' +
      'that would exempt every root process too; run it as a dedicated user with CAP_NET_ADMIN and CAP_NET_RAW ' +
      '(systemd/meshnode-agent-host.service does)\n');
    return 1;
  }
  const missing = checkNetPrivileges({ enterNetns: !options.hostMode });
  if (missing.length > 0) {
    for (const err of missing) process.stderr.write(`meshnode agent: ${err.message}\n`);
    return 1;
  }
  log.info('open-files limit', raiseFileLimit());
  // Loaded after the privilege check so an unprivileged start fails fast and plainly.
  const { buildApp } = await import('../app.js');
  let bound;
  try {
    bound = await buildApp(options, { log });
  } catch (err) {
    if (err instanceof ConfigLoadError) {
      process.stderr.write(`meshnode agent: ${err.message}\n`);
      return EXIT_BAD_CONFIG;
    }
    process.stderr.write(`meshnode agent: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  // One stray rejected promise must not take every pod on the node offline (one process serves
  // them all): log it loudly and keep serving.
  process.on('unhandledRejection', (reason) => log.error('unhandled promise rejection', { error: reason }));
  const unhandle = handleSignals(bound.trigger, log);
  const onHup = () => void bound.reload();
  process.on('SIGHUP', onHup);
  // Type=notify: systemd holds dependent units back until every listener is bound.
  const notified = notifySystemd(`READY=1\nSTATUS=serving on node ${options.node}`);
  if (notified) log.warn('cannot tell systemd the agent is ready', { error: notified.message });
  const reason = await bound.shutdownRequested;
  log.info('shutting down', { reason });
  notifySystemd('STOPPING=1');
  await bound.shutdown();
  unhandle();
  process.off('SIGHUP', onHup);
  // Whatever a component failed to release (a stuck socket, a client channel) must not keep a
  // drained agent alive; the timer itself does not hold the process open.
  setTimeout(() => process.exit(0), 1_000).unref();
  return 0;
}
