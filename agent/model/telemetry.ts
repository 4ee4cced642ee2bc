import type { Workload } from './types.js';

/**
 * The names Istio's telemetry gives a workload, derived as istiod derives them for the workload
 * API (and so for ztunnel's metrics): the canonical service and revision from the standard
 * labels, the workload (controller) name from the pod's name and labels, the cluster from the
 * uid. A source that receives them already derived (istiod over xDS) sets `Workload.telemetry`,
 * which wins.
 */
export interface TelemetryNames {
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadName: string;
  readonly cluster: string;
}

const CANONICAL_NAME = ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app'];
const CANONICAL_REVISION = ['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version'];
const WORKLOAD_NAME = 'service.istio.io/workload-name';

function firstLabel(labels: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = labels[key];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/**
 * The controller that owns a pod, from what its name and labels show: a Deployment's pods are
 * `<deployment>-<pod-template-hash>-<suffix>`, a StatefulSet's `<set>-<ordinal>`, a CronJob's
 * job is `<cronjob>-<8 to 10 digits>`. Anything else is its own workload.
 */
function controllerName(w: Workload): string {
  const explicit = w.labels[WORKLOAD_NAME];
  if (explicit) return explicit;
  if (w.kind !== 'Pod') return w.name;
  const hash = w.labels['pod-template-hash'];
  if (hash && w.name.includes(`-${hash}-`)) return w.name.slice(0, w.name.lastIndexOf(`-${hash}-`));
  if (w.labels['statefulset.kubernetes.io/pod-name'] === w.name) return w.name.replace(/-\d+$/, '');
  const job = w.labels['batch.kubernetes.io/job-name'] ?? w.labels['job-name'];
  if (job) return /-\d{8,10}$/.test(job) ? job.replace(/-\d{8,10}$/, '') : job;
  return w.name;
}

const cache = new WeakMap<Workload, TelemetryNames>();

/** Memoized per workload record: records are immutable, and a change is a new record. */
export function telemetryNames(w: Workload): TelemetryNames {
  const known = cache.get(w);
  if (known) return known;
  const workloadName = w.telemetry?.workloadName || controllerName(w);
  const names: TelemetryNames = {
    workloadName,
    canonicalName: w.telemetry?.canonicalName || firstLabel(w.labels, CANONICAL_NAME) || workloadName,
    canonicalRevision: w.telemetry?.canonicalRevision || firstLabel(w.labels, CANONICAL_REVISION) || 'latest',
    cluster: w.telemetry?.cluster || w.uid.slice(0, w.uid.indexOf('/')) || 'unknown',
  };
  cache.set(w, names);
  return names;
}
