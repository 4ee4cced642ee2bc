import { describe } from '../../config/field-reader.js';
import type { ServicePort } from '../types.js';
import { KNOWN, warnUnknownFields } from './known-fields.js';
import { readMetadata } from './metadata.js';
import type { ParsedService } from './parsed.js';
import type { ObjectReader } from './reader.js';

/** v1 Service: cluster IPs, ports (targetPort by number or container port name) and selector. */
export function parseService(r: ObjectReader): ParsedService | undefined {
  const meta = readMetadata(r, true);
  const spec = r.record(r.doc.body.spec, 'spec') ?? {};
  warnUnknownFields(r, spec, 'spec', KNOWN.serviceSpec);
  const vips = readClusterIps(r, spec);
  const ports = readPorts(r, spec.ports);
  const selector = spec.selector === undefined || spec.selector === null ? undefined : r.stringMap(spec.selector, 'spec.selector');
  if (!meta) return undefined;
  return { kind: 'Service', location: r.doc.location, lineOf: r.doc.lineOf, name: meta.name, namespace: meta.namespace, labels: meta.labels, vips, ports, selector };
}

/** `clusterIP` and `clusterIPs` (whose first entry must be `clusterIP`); `None` is headless. */
function readClusterIps(r: ObjectReader, spec: Record<string, unknown>): string[] {
  const single = r.string(spec.clusterIP, 'spec.clusterIP');
  const list = r.strings(spec.clusterIPs, 'spec.clusterIPs');
  if (single !== undefined && list.length > 0 && single !== list[0]) {
    r.error('spec.clusterIPs', `first entry "${list[0]}" must equal spec.clusterIP "${single}"`);
  }
  const texts = list.length > 0 ? list : single !== undefined ? [single] : [];
  const paths = list.length > 0 ? list.map((_, i) => `spec.clusterIPs[${i}]`) : ['spec.clusterIP'];
  const vips: string[] = [];
  texts.forEach((text, i) => {
    if (text === 'None' || text === '') return;
    const ip = r.ip(text, paths[i]!);
    if (ip !== undefined && !vips.includes(ip)) vips.push(ip);
  });
  return vips;
}

const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function readPort(r: ObjectReader, value: unknown, path: string): ServicePort | undefined {
  const p = r.record(value, path);
  if (!p) return undefined;
  warnUnknownFields(r, p, path, KNOWN.servicePort);
  const name = r.string(p.name, `${path}.name`) ?? '';
  const port = r.port(p.port, `${path}.port`);
  if (p.port === undefined) r.error(`${path}.port`, 'is required');
  const protocol = r.string(p.protocol, `${path}.protocol`) ?? 'TCP';
  const targetPort = readTargetPort(r, p.targetPort, `${path}.targetPort`);
  if (port === undefined || targetPort === undefined) return undefined;
  // Kubernetes defaults an absent targetPort to the port itself.
  return { name, port, targetPort: targetPort === 0 ? port : targetPort, protocol };
}

/** IntOrString: a number, or the name of a container port (which must contain a letter). */
function readTargetPort(r: ObjectReader, value: unknown, path: string): number | string | undefined {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number') return r.port(value, path);
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    r.error(path, `"${value}" is a number in quotes; write it unquoted, or name a container port`);
    return undefined;
  }
  if (typeof value === 'string' && value.length <= 15 && PORT_NAME.test(value) && /[a-z]/.test(value)) return value;
  r.error(path, `must be a port number or a container port name (lower-case, at most 15 characters), got ${describe(value)}`);
  return undefined;
}

function readPorts(r: ObjectReader, value: unknown): ServicePort[] {
  const ports: ServicePort[] = [];
  r.list(value, 'spec.ports').forEach((item, i) => {
    const port = readPort(r, item, `spec.ports[${i}]`);
    if (!port) return;
    if (ports.some((p) => p.port === port.port && p.protocol === port.protocol)) {
      return r.error(`spec.ports[${i}].port`, `port ${port.port}/${port.protocol} is listed twice`);
    }
    ports.push(port);
  });
  return ports;
}
