import { bytesToIp, parseCidr } from '../../base/ip.js';
import type { Cidr } from '../../model/types.js';
import type { Enum, PbGatewayAddress, PbNetworkAddress } from './api.js';
import { XdsResourceError } from './errors.js';

/**
 * Field checks shared by the workload and authorization translators. Each throws
 * XdsResourceError naming the field, so a NACK tells the operator exactly what istiod sent wrong.
 */

export function reject(reason: string): never {
  throw new XdsResourceError(reason);
}

/** An enum field must carry one of `allowed`; an unknown number means a newer or broken istiod. */
export function enumValue<T extends string>(value: Enum | undefined, allowed: readonly T[], field: string): T {
  const v = value ?? allowed[0]!;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  return reject(`${field}: unsupported value ${String(v)}`);
}

export function required(value: string | undefined, field: string): string {
  if (value === undefined || value === '') reject(`${field} is missing`);
  return value;
}

export function ipFromBytes(b: Buffer | undefined, field: string): string {
  if (!b || (b.length !== 4 && b.length !== 16)) reject(`${field}: an IP address must be 4 or 16 bytes, got ${b?.length ?? 0}`);
  return bytesToIp(b);
}

export function cidrFromBytes(b: Buffer | undefined, length: number | null | undefined, field: string): Cidr {
  const ip = ipFromBytes(b, field);
  const text = length === undefined || length === null ? ip : `${ip}/${length}`;
  const parsed = parseCidr(text);
  if (typeof parsed === 'string') reject(`${field}: ${parsed}`);
  return { address: bytesToIp(parsed.bytes), prefixLength: parsed.prefixLength };
}

export function port(n: number | undefined, field: string): number {
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 65535) reject(`${field}: ${String(n)} is not a port`);
  return n;
}

export function networkAddress(a: PbNetworkAddress, field: string): void {
  cidrFromBytes(a.address, a.length, field);
}

/** A gateway reference without a destination cannot be routed to; ztunnel rejects it too. */
export function gatewayAddress(g: PbGatewayAddress | null | undefined, field: string): void {
  if (!g) return;
  if (g.address) return networkAddress(g.address, `${field}.address`);
  if (g.hostname) {
    required(g.hostname.hostname, `${field}.hostname.hostname`);
    return;
  }
  reject(`${field} has no destination`);
}
