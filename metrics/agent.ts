import { Counter, Gauge } from 'prom-client';
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
