import { bytesToIp, parseCidr } from '../../base/ip.js';
import type { Cidr, ServicePort } from '../types.js';
import { KNOWN, warnUnknownFields } from './known-fields.js';
import { readMetadata } from './metadata.js';
import type { ParsedServiceEntry } from './parsed.js';
import type { ObjectReader } from './reader.js';

/**
 * networking.istio.io ServiceEntry. Its endpoints are the Pods and WorkloadEntries of its
 * namespace that `workloadSelector.labels` selects; inline `endpoints` are not supported.
 */
export function parseServiceEntry(r: ObjectReader): ParsedServiceEntry | undefined {
  const meta = readMetadata(r, true);
  const spec = r.record(r.doc.body.spec, 'spec') ?? {};
  warnUnknownFields(r, spec, 'spec', KNOWN.serviceEntrySpec);
  const hosts = r.strings(spec.hosts, 'spec.hosts');
  if (hosts.length === 0) r.error('spec.hosts', 'at least one host is required');
  hosts.forEach((h, i) => { if (h === '') r.error(`spec.hosts[${i}]`, 'empty host'); });
  const { vips, cidrVips } = readAddresses(r, spec.addresses);
  const ports = readPorts(r, spec.ports);
  const selectorObject = r.record(spec.workloadSelector, 'spec.workloadSelector');
  warnUnknownFields(r, selectorObject, 'spec.workloadSelector', KNOWN.workloadSelector);
  const selector = selectorObject && r.stringMap(selectorObject.labels, 'spec.workloadSelector.labels');
  if (r.list(spec.endpoints, 'spec.endpoints').length > 0) {
    r.warn('spec.endpoints', 'inline endpoints are not supported and are ignored; use WorkloadEntry objects and spec.workloadSelector');
  }
  const subjectAltNames = r.strings(spec.subjectAltNames, 'spec.subjectAltNames');
  if (!meta || hosts.length === 0) return undefined;
  return {
    kind: 'ServiceEntry', location: r.doc.location, lineOf: r.doc.lineOf, name: meta.name, namespace: meta.namespace,
    labels: meta.labels, hosts: hosts.filter((h) => h !== ''), vips, cidrVips, ports, selector, subjectAltNames,
  };
}

/** Single addresses become VIPs; shorter prefixes become CIDR VIPs. */
function readAddresses(r: ObjectReader, value: unknown): { vips: string[]; cidrVips: Cidr[] } {
  const vips: string[] = [];
  const cidrVips: Cidr[] = [];
  r.strings(value, 'spec.addresses').forEach((text, i) => {
    const cidr = parseCidr(text);
    if (typeof cidr === 'string') return r.error(`spec.addresses[${i}]`, cidr);
    const address = bytesToIp(cidr.bytes);
    if (cidr.prefixLength === cidr.bytes.length * 8) vips.push(address);
    else cidrVips.push({ address, prefixLength: cidr.prefixLength });
  });
  return { vips, cidrVips };
}

function readPorts(r: ObjectReader, value: unknown): ServicePort[] {
  const ports: ServicePort[] = [];
  r.list(value, 'spec.ports').forEach((item, i) => {
    const path = `spec.ports[${i}]`;
    const p = r.record(item, path) ?? {};
    warnUnknownFields(r, p, path, KNOWN.serviceEntryPort);
    const port = r.port(p.number, `${path}.number`);
    if (p.number === undefined) r.error(`${path}.number`, 'is required');
    const name = r.string(p.name, `${path}.name`) ?? '';
    const protocol = r.string(p.protocol, `${path}.protocol`) ?? 'TCP';
    const targetPort = r.port(p.targetPort, `${path}.targetPort`);
    if (port === undefined) return;
    if (ports.some((q) => q.port === port)) return r.error(`${path}.number`, `port ${port} is listed twice`);
    ports.push({ name, port, targetPort: targetPort ?? port, protocol });
  });
  return ports;
}
