import { identityFlagSpecs, identityFlagsUsage, parseIdentityOptions } from './identity-flags.js';
import { checkNetPrivileges, raiseFileLimit } from '../net/index.js';
import { DEFAULT_CNI_SOCKET } from '../pods/index.js';
import { DEFAULT_DRAIN_DEADLINE_MS } from '../lifecycle/drain.js';
import { ConfigLoadError } from '../sources/yaml/source.js';
import { handleSignals } from '../lifecycle/shutdown.js';
import { createLogger } from '../telemetry/log.js';
import { parseDuration, parseFlags, parseHostPort, parseTrustDomain, requireFlag } from './flags.js';
import { UsageError } from './usage-error.js';
import { parseXdsOptions, xdsFlagSpecs, xdsFlagsUsage } from './xds-options.js';

export const DEFAULT_STATE_DIR = '/var/lib/meshnode';
/** Exit code for a mesh config that cannot be loaded at start-up (EX_USAGE-style, as linkerd). */
export const EXIT_BAD_CONFIG = 64;

export const usage = `usage: meshnode agent (--config PATH | --xds-address HOST:PORT | --kube) --node NAME --ca-address HOST:PORT [flags]

Runs the node agent: certificates for the node's workloads, per-pod capture listeners
(15001/15006/15008 inside each registered pod's netns), HBONE mTLS, L4 authorization.
Needs root (CAP_SYS_ADMIN for setns, CAP_NET_ADMIN for socket marks).

  --config PATH              mesh config (YAML file or directory); watched and reloaded, SIGHUP reloads
${xdsFlagsUsage}
  --kube                     list and watch the Kubernetes API (pods, services, namespaces, Istio policies) instead of --config
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
} as const;

function parseAgentFlags(argv: string[]) {
  const values = parseFlags(argv, { ...identityFlagSpecs, ...agentFlagSpecs, ...xdsFlagSpecs });
  const drain = values['drain-deadline'];
  const identity = parseIdentityOptions(values);
  const xds = parseXdsOptions(values, { rootFile: identity.caRootFile, tokenFile: identity.tokenFile, node: identity.node });
  const sources = [values.config !== undefined && '--config', xds && '--xds-address', values.kube && '--kube'].filter(Boolean);
  if (sources.length > 1) throw new UsageError(`${sources.join(' and ')} are alternative mesh sources; give one`);
  if (values.kubeconfig !== undefined && !values.kube) throw new UsageError('--kubeconfig needs --kube');
  return {
    ...(xds ? { xds } : values.kube ? { kube: { kubeconfig: values.kubeconfig } } : { configPath: requireFlag(values.config, 'config') }),
    node: identity.node,
    settings: { trustDomain: parseTrustDomain(values['trust-domain'], 'trust-domain'), rootNamespace: values['root-namespace'] },
    identity,
    cniSocket: values['cni-socket'],
    stateDir: values['state-dir'],
    admin: parseHostPort(values['admin-address'], 'admin-address'),
    metrics: parseHostPort(values['metrics-address'], 'metrics-address'),
    readiness: parseHostPort(values['readiness-address'], 'readiness-address'),
    drainDeadlineMs: drain === undefined ? DEFAULT_DRAIN_DEADLINE_MS : parseDuration(drain, 'drain-deadline'),
  };
}

export async function run(argv: string[]): Promise<number> {
  const options = parseAgentFlags(argv);
  const log = createLogger('agent');
  const missing = checkNetPrivileges();
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
  const reason = await bound.shutdownRequested;
  log.info('shutting down', { reason });
  await bound.shutdown();
  unhandle();
  process.off('SIGHUP', onHup);
  // Whatever a component failed to release (a stuck socket, a client channel) must not keep a
  // drained agent alive; the timer itself does not hold the process open.
  setTimeout(() => process.exit(0), 1_000).unref();
  return 0;
}
