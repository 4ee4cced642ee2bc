import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './registry.js';

/** The agent's Kubernetes source (`--kube`): list/watch health and translation cost (catalogue: metrics/README.md). */
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
