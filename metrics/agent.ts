import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './registry.js';

/** Node-agent plumbing: config reloads and the pod registry (catalogue: metrics/README.md). */

export type ReloadResult = 'success' | 'failure';

export const configReloads = new Counter({
  name: 'meshnode_config_reloads_total',
  help: 'Mesh config (re)loads after start-up, by result; a failure keeps the last good config serving.',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const configLastReloadSuccessful = new Gauge({
  name: 'meshnode_config_last_reload_successful',
  help: '1 when the most recent mesh config load was applied, 0 when it was rejected.',
  registers: [registry],
});

export const registeredPods = new Gauge({
  name: 'meshnode_registered_pods',
  help: 'Pods currently registered by the CNI plugin with listeners open.',
  registers: [registry],
});

export type PodOperation = 'add' | 'delete';
export type PodResult = 'success' | 'bad_request' | 'not_enrolled' | 'netns_missing' | 'failed';

export const podRegistrations = new Counter({
  name: 'meshnode_pod_registrations_total',
  help: 'Pod registration API calls by operation and result.',
  labelNames: ['operation', 'result'] as const,
  registers: [registry],
});

export type RestoreResult = 'reopened' | 'forgotten' | 'failed';

export const podsRestored = new Counter({
  name: 'meshnode_pods_restored_total',
  help: 'Persisted pod registrations handled at start-up: reopened, forgotten (netns gone) or failed.',
  labelNames: ['result'] as const,
  registers: [registry],
});

export type XdsType = 'address' | 'authorization';

export const xdsPushes = new Counter({
  name: 'meshnode_xds_pushes_total',
  help: 'xDS responses from istiod by type and answer (ack, or nack when any resource was rejected; the valid rest is applied either way).',
  labelNames: ['type', 'result'] as const,
  registers: [registry],
});

export const xdsRejectedResources = new Counter({
  name: 'meshnode_xds_rejected_resources_total',
  help: 'xDS resources rejected (named in a NACK) by type; the previous good version keeps serving.',
  labelNames: ['type'] as const,
  registers: [registry],
});

export const xdsReconnects = new Counter({
  name: 'meshnode_xds_reconnects_total',
  help: 'xDS stream restarts by reason: recycle (istiod closed it routinely), end, error, connection_error.',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const xdsConnected = new Gauge({
  name: 'meshnode_xds_connected',
  help: '1 while the xDS stream to istiod is up (after its first response), else 0.',
  registers: [registry],
});

export const kubeEvents = new Counter({
  name: 'meshnode_kube_watch_events_total',
  help: 'Watch events from the Kubernetes API by resource and type (ADDED, MODIFIED, DELETED, BOOKMARK).',
  labelNames: ['resource', 'type'] as const,
  registers: [registry],
});

export const kubeWatchRestarts = new Counter({
  name: 'meshnode_kube_watch_restarts_total',
  help: 'Kubernetes watches started again by resource and reason: timeout (the server ended it), expired (410, relist), reconnect (asked for).',
  labelNames: ['resource', 'reason'] as const,
  registers: [registry],
});

export const kubeRelists = new Counter({
  name: 'meshnode_kube_relists_total',
  help: 'Complete lists of a Kubernetes resource by reason: initial, expired (after 410 Gone), recheck (a missing CRD looked for again).',
  labelNames: ['resource', 'reason'] as const,
  registers: [registry],
});

export const kubeErrors = new Counter({
  name: 'meshnode_kube_errors_total',
  help: 'Failed Kubernetes list/watch requests by resource and reason (http_<status>, connection); each is retried with backoff.',
  labelNames: ['resource', 'reason'] as const,
  registers: [registry],
});

export const kubeResourceSynced = new Gauge({
  name: 'meshnode_kube_resource_synced',
  help: '1 once a Kubernetes resource has been listed (a CRD that is not installed counts as listed and empty), else 0.',
  labelNames: ['resource'] as const,
  registers: [registry],
});

export const kubeRejectedObjects = new Counter({
  name: 'meshnode_kube_rejected_objects_total',
  help: 'Kubernetes objects that failed validation, by kind; the previous version keeps serving, a new security object is replaced by a deny-all (fail closed).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const kubeTranslateSeconds = new Histogram({
  name: 'meshnode_kube_translate_seconds',
  help: 'Event-loop time of one Kubernetes translation turn (a chunk of queued objects: read, translate, apply to the state).',
  buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1],
  registers: [registry],
});
