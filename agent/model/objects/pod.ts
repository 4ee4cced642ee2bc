import { KNOWN, warnUnknownFields } from './known-fields.js';
import { readMetadata, readServiceAccount } from './metadata.js';
import type { ParsedPod } from './parsed.js';
import type { ObjectReader } from './reader.js';

/**
 * v1 Pod, as written or as `kubectl get pod -o yaml` prints it. Fields the mesh does not use
 * (images, volumes, most of status) are ignored.
 */
export function parsePod(r: ObjectReader): ParsedPod | undefined {
  const meta = readMetadata(r, true);
  const spec = r.record(r.doc.body.spec, 'spec') ?? {};
  const status = r.record(r.doc.body.status, 'status') ?? {};
  warnUnknownFields(r, spec, 'spec', KNOWN.podSpec);
  const serviceAccount = readServiceAccount(r, spec.serviceAccountName, 'spec.serviceAccountName')
    ?? readServiceAccount(r, spec.serviceAccount, 'spec.serviceAccount') ?? 'default';
  const node = r.string(spec.nodeName, 'spec.nodeName') ?? '';
  const hostNetwork = r.boolean(spec.hostNetwork, 'spec.hostNetwork') ?? false;
  const namedPorts = readNamedPorts(r, spec);
  const addresses = readPodIps(r, status);
  const phase = r.string(status.phase, 'status.phase');
  // A pod being deleted is draining: istiod reports it UNHEALTHY so no new traffic is sent to it.
  const deleting = (r.record(r.doc.body.metadata, 'metadata') ?? {}).deletionTimestamp !== undefined;
  const healthy = phase !== 'Pending' && readyCondition(r, status) !== 'False' && !deleting;
  if (!meta) return undefined;
  return {
    kind: 'Pod', location: r.doc.location, lineOf: r.doc.lineOf, name: meta.name, namespace: meta.namespace, labels: meta.labels,
    uid: meta.uid, serviceAccount, node, addresses, namedPorts, hostNetwork, healthy,
    terminated: phase === 'Succeeded' || phase === 'Failed',
  };
}

/** Container ports with a name, from containers and (sidecar) initContainers. */
function readNamedPorts(r: ObjectReader, spec: Record<string, unknown>): Map<string, number> {
  const named = new Map<string, number>();
  const firstPath = new Map<string, string>();
  for (const group of ['initContainers', 'containers']) {
    r.list(spec[group], `spec.${group}`).forEach((c, i) => {
      const container = r.record(c, `spec.${group}[${i}]`) ?? {};
      r.list(container.ports, `spec.${group}[${i}].ports`).forEach((p, j) => {
        const path = `spec.${group}[${i}].ports[${j}]`;
        const port = r.record(p, path) ?? {};
        warnUnknownFields(r, port, path, KNOWN.containerPort);
        const name = r.string(port.name, `${path}.name`);
        const number = r.port(port.containerPort, `${path}.containerPort`);
        if (port.containerPort === undefined) r.error(`${path}.containerPort`, 'is required');
        if (name === undefined || name === '' || number === undefined) return;
        const earlier = firstPath.get(name);
        if (earlier !== undefined) return r.error(`${path}.name`, `port name "${name}" is already used by ${earlier}`);
        named.set(name, number);
        firstPath.set(name, path);
      });
    });
  }
  return named;
}

/** status.podIP first, then the rest of status.podIPs; canonical, without duplicates. */
function readPodIps(r: ObjectReader, status: Record<string, unknown>): string[] {
  const ips: string[] = [];
  const primary = r.ip(status.podIP, 'status.podIP');
  if (primary !== undefined) ips.push(primary);
  r.list(status.podIPs, 'status.podIPs').forEach((entry, i) => {
    const ip = r.ip((r.record(entry, `status.podIPs[${i}]`) ?? {}).ip, `status.podIPs[${i}].ip`);
    if (ip !== undefined && !ips.includes(ip)) ips.push(ip);
  });
  if (ips.length > 2) r.error('status.podIPs', `a pod has at most one IPv4 and one IPv6 address, got ${ips.length}`);
  return ips;
}

function readyCondition(r: ObjectReader, status: Record<string, unknown>): string | undefined {
  let ready: string | undefined;
  r.list(status.conditions, 'status.conditions').forEach((c, i) => {
    const condition = r.record(c, `status.conditions[${i}]`) ?? {};
    if (condition.type === 'Ready') ready = r.string(condition.status, `status.conditions[${i}].status`);
  });
  return ready;
}
