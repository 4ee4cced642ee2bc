import { KNOWN, warnUnknownFields } from './known-fields.js';
import { readMetadata, readServiceAccount } from './metadata.js';
import type { ParsedWorkloadEntry } from './parsed.js';
import type { ObjectReader } from './reader.js';

/** Which meshnode runs a VM's or bare-metal host's workload (and fetches its certificate). */
export const NODE_ANNOTATION = 'meshnode.io/node';

/**
 * networking.istio.io WorkloadEntry: a VM or bare-metal workload. Its selectable labels are
 * `spec.labels` laid over `metadata.labels`. Like istiod's ambient index, an address that is a
 * DNS name cannot be indexed and the entry is skipped with a warning.
 */
export function parseWorkloadEntry(r: ObjectReader): ParsedWorkloadEntry | undefined {
  const meta = readMetadata(r, true);
  const spec = r.record(r.doc.body.spec, 'spec') ?? {};
  warnUnknownFields(r, spec, 'spec', KNOWN.workloadEntrySpec);
  const labels = { ...meta?.labels, ...r.stringMap(spec.labels, 'spec.labels') };
  const serviceAccount = readServiceAccount(r, spec.serviceAccount, 'spec.serviceAccount') ?? 'default';
  const ports = readPorts(r, spec.ports);
  const node = meta?.annotations[NODE_ANNOTATION] ?? '';
  if (meta && node === '') {
    r.warn('metadata.annotations', `no ${NODE_ANNOTATION} annotation: no meshnode serves this workload`);
  }
  const address = readAddress(r, spec.address);
  if (!meta || address === undefined) return undefined;
  return {
    kind: 'WorkloadEntry', location: r.doc.location, lineOf: r.doc.lineOf, name: meta.name, namespace: meta.namespace,
    labels, address, serviceAccount, ports, node,
  };
}

function readAddress(r: ObjectReader, value: unknown): string | undefined {
  const text = r.string(value, 'spec.address');
  if (text === undefined || text === '') {
    if (value === undefined || text === '') r.error('spec.address', 'is required (the workload IP)');
    return undefined;
  }
  // Anything that could be a mistyped IP (10.1.1, fd00::g) is checked as an IP, not taken for a DNS name.
  if (!/^[\d.]+$/.test(text) && !text.includes(':')) {
    r.warn('spec.address', `"${text}" is not an IP address; DNS addresses are not resolved, so this entry is skipped`);
    return undefined;
  }
  return r.ip(text, 'spec.address');
}

function readPorts(r: ObjectReader, value: unknown): Map<string, number> {
  const ports = new Map<string, number>();
  for (const [name, number] of Object.entries(r.record(value, 'spec.ports') ?? {})) {
    const port = r.port(number, `spec.ports.${name}`);
    if (port !== undefined) ports.set(name, port);
  }
  return ports;
}
