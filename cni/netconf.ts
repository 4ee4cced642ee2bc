import { canonicalIp } from '../agent/base/ip.js';
import { CniCode, CniError } from './errors.js';
import { DEFAULT_PROBE_ADDRESS, DEFAULT_PROBE_ADDRESS_V6 } from '../agent/capture/index.js';

export const DEFAULT_AGENT_SOCKET = '/var/run/meshnode/cni.sock';
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type CniLogLevel = (typeof LOG_LEVELS)[number];

/** The result of the previous plugin in the chain: printed back unchanged, IPs read from it. */
export interface PrevResult {
  readonly raw: Record<string, unknown>;
  /** Canonical pod addresses without prefix length, in result order. */
  readonly ips: readonly string[];
}

export interface NetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  readonly agentSocket: string;
  readonly agentTimeoutMs: number;
  readonly logFile?: string;
  readonly logLevel: CniLogLevel;
  readonly excludeNamespaces: readonly string[];
  readonly probeAddress: string;
  readonly probeAddressV6: string;
  /** Maintain the host-side kubelet-probe SNAT rules (as istio-cni does) in the runtime's netns. */
  readonly hostProbeSnat: boolean;
  readonly prevResult?: PrevResult;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects every problem with its JSON path, so one error names all of them. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly doc: Json) {}

  string(key: string, opts: { required?: boolean; fallback?: string; absolute?: boolean } = {}): string | undefined {
    const v = this.doc[key];
    if (v === undefined) {
      if (opts.required) this.problems.push(`${key}: required`);
      return opts.fallback;
    }
    if (typeof v !== 'string' || v === '') return this.bad(key, 'must be a non-empty string', v, opts.fallback);
    if (opts.absolute && !v.startsWith('/')) return this.bad(key, 'must be an absolute path', v, opts.fallback);
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const v = this.doc[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) return this.bad(key, `must be one of ${allowed.join(', ')}`, v, fallback);
    return v as T;
  }

  positive(key: string, fallback: number): number {
    const v = this.doc[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return this.bad(key, 'must be a positive number', v, fallback);
    return v;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.doc[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') return this.bad(key, 'must be true or false', v, fallback);
    return v;
  }

  stringList(key: string): string[] {
    const v = this.doc[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) return this.bad(key, 'must be a list of strings', v, []);
    v.forEach((item, i) => { if (typeof item !== 'string' || item === '') this.problems.push(`${key}[${i}]: must be a non-empty string, got ${JSON.stringify(item)}`); });
    return v.filter((item): item is string => typeof item === 'string');
  }

  ip(key: string, family: 4 | 6, fallback: string): string {
    const v = this.string(key, { fallback });
    const ip = v === undefined ? undefined : canonicalIp(v);
    if (ip === undefined || ip.includes(':') !== (family === 6)) return this.bad(key, `must be an IPv${family} address`, v, fallback);
    return ip;
  }

  bad<T>(key: string, what: string, got: unknown, fallback: T): T {
    this.problems.push(`${key}: ${what}, got ${JSON.stringify(got)}`);
    return fallback;
  }
}

function parsePrevResult(v: unknown, problems: string[]): PrevResult | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) {
    problems.push(`prevResult: must be an object, got ${JSON.stringify(v)}`);
    return undefined;
  }
  const ips: string[] = [];
  const list = v.ips ?? [];
  if (!Array.isArray(list)) problems.push('prevResult.ips: must be a list');
  else list.forEach((entry, i) => {
    const address = isObject(entry) ? entry.address : undefined;
    const ip = typeof address === 'string' ? canonicalIp(address.split('/')[0]!) : undefined;
    if (ip === undefined || typeof address !== 'string' || !address.includes('/')) {
      problems.push(`prevResult.ips[${i}].address: must be an address in CIDR form (10.0.0.5/24), got ${JSON.stringify(address)}`);
    } else ips.push(ip);
  });
  return { raw: v, ips };
}

/** Decodes stdin. Bad JSON is code 6; any invalid field is code 7 naming every bad field. */
export function parseNetConf(text: string): NetConf {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, 'error decoding network config', `stdin is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new CniError(CniCode.DecodeFailure, 'error decoding network config', 'stdin must be a JSON object');
  const r = new Reader(doc);
  const conf: NetConf = {
    cniVersion: r.string('cniVersion', { required: true }) ?? '',
    name: r.string('name', { required: true }) ?? '',
    type: r.string('type', { required: true }) ?? '',
    agentSocket: r.string('agentSocket', { fallback: DEFAULT_AGENT_SOCKET, absolute: true })!,
    agentTimeoutMs: r.positive('agentTimeoutSeconds', 10) * 1000,
    logFile: r.string('logFile', { absolute: true }),
    logLevel: r.oneOf('logLevel', LOG_LEVELS, 'info'),
    excludeNamespaces: r.stringList('excludeNamespaces'),
    probeAddress: r.ip('probeAddress', 4, DEFAULT_PROBE_ADDRESS),
    probeAddressV6: r.ip('probeAddressV6', 6, DEFAULT_PROBE_ADDRESS_V6),
    hostProbeSnat: r.boolean('hostProbeSnat', true),
    prevResult: parsePrevResult(doc.prevResult, r.problems),
  };
  if (r.problems.length > 0) {
    throw new CniError(CniCode.InvalidConfig, 'invalid meshnode-cni network config', r.problems.join('; '));
  }
  return conf;
}

/** Only `cniVersion` matters for VERSION; an empty stdin means the runtime sent none. */
export function peekVersion(text: string): string | undefined {
  try {
    const doc: unknown = JSON.parse(text);
    return isObject(doc) && typeof doc.cniVersion === 'string' ? doc.cniVersion : undefined;
  } catch {
    return undefined;
  }
}
