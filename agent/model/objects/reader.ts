import { DocReader, describe } from '../../config/field-reader.js';
import { canonicalIp, notUnicast } from '../../base/ip.js';

/**
 * Reading the Kubernetes and Istio networking objects (Namespace, Pod, Service, WorkloadEntry,
 * ServiceEntry). Unlike security objects these are read leniently: `kubectl get -o yaml` output
 * carries many fields the mesh does not use, and they are ignored. A field the mesh does use must
 * have the right type, or it is an error naming its path.
 */
export class ObjectReader extends DocReader {
  /** The line of `path`, or of its closest parent that exists (a missing field's object). */
  protected override lineFor(path: string): number {
    const docLine = this.doc.location.line;
    for (let p = path; ; ) {
      const line = this.doc.lineOf(p);
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (line !== docLine || cut <= 0) return line;
      p = p.slice(0, cut);
    }
  }

  /** An optional object; undefined when absent (or wrongly typed, with an error). */
  record(value: unknown, path: string): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.error(path, `must be an object, got ${describe(value)}`);
      return undefined;
    }
    return value as Record<string, unknown>;
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      this.error(path, `must be true or false, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** A list of strings; wrong entries are reported and dropped. */
  strings(value: unknown, path: string): string[] {
    const out: string[] = [];
    this.list(value, path).forEach((item, i) => {
      const text = this.string(item, `${path}[${i}]`);
      if (text !== undefined) out.push(text);
    });
    return out;
  }

  /** A string → string map such as labels; Kubernetes rejects non-string values, so do we. */
  stringMap(value: unknown, path: string): Record<string, string> {
    const out: Record<string, string> = {};
    const record = this.record(value, path);
    for (const [k, v] of Object.entries(record ?? {})) {
      if (typeof v === 'string') out[k] = v;
      else this.error(`${path}.${k}`, `must be a string, got ${describe(v)} (quote it)`, path);
    }
    return out;
  }

  /** An optional port number, 1-65535. */
  port(value: unknown, path: string): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
      this.error(path, `must be a port number 1-65535, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /**
   * An optional unicast IP address of a workload or service, canonicalised (IPv4-mapped IPv6
   * becomes IPv4). Loopback, unspecified, broadcast and multicast addresses are errors: traffic
   * to them never reaches a pod, and a policy keyed on them would match the wrong peers.
   */
  ip(value: unknown, path: string): string | undefined {
    const text = this.string(value, path);
    if (text === undefined) return undefined;
    const ip = text.includes('%') ? undefined : canonicalIp(text);
    const problem = ip === undefined ? `"${text}" is not an IP address` : notUnicast(ip);
    if (problem) this.error(path, problem);
    return problem ? undefined : ip;
  }
}
