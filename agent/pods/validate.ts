import { isAbsolute } from 'node:path';
import { canonicalIp } from '../base/ip.js';
import type { RegisteredPod } from './registered-pod.js';
import type { PodCaptureSettings } from '../base/contracts/pod-api.js';
import { MeshnodeError } from '../base/errors.js';

/** A pod registration body that cannot be accepted; `field` is the JSON path at fault. */
export class PodBodyError extends MeshnodeError {
  readonly code = 'ERR_POD_BODY';
  constructor(readonly field: string, reason: string) {
    super(`field "${field}": ${reason}`);
  }
}

const MAX_TEXT = 253;

function text(body: Record<string, unknown>, field: string, max = MAX_TEXT): string {
  const value = body[field];
  if (value === undefined) throw new PodBodyError(field, 'is required');
  if (typeof value !== 'string') throw new PodBodyError(field, `must be a string, not ${JSON.stringify(value)}`);
  if (value === '') throw new PodBodyError(field, 'must not be empty');
  if (value.length > max) throw new PodBodyError(field, `is longer than ${max} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new PodBodyError(field, 'contains control characters');
  return value;
}

function ips(body: Record<string, unknown>): string[] {
  const value = body.ips;
  if (value === undefined) throw new PodBodyError('ips', 'is required');
  if (!Array.isArray(value)) throw new PodBodyError('ips', 'must be an array of IP addresses');
  const out: string[] = [];
  value.forEach((item: unknown, i) => {
    const ip = typeof item === 'string' ? canonicalIp(item) : undefined;
    if (ip === undefined) throw new PodBodyError(`ips[${i}]`, `${JSON.stringify(item)} is not an IP address`);
    if (!out.includes(ip)) out.push(ip);
  });
  return out;
}

function capture(body: Record<string, unknown>): PodCaptureSettings | undefined {
  const value = body.capture;
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PodBodyError('capture', 'must be an object');
  const c = value as Record<string, unknown>;
  const address = (field: 'probeAddress' | 'probeAddressV6', v6: boolean): string => {
    const ip = typeof c[field] === 'string' ? canonicalIp(c[field]) : undefined;
    if (ip === undefined || ip.includes(':') !== v6) throw new PodBodyError(`capture.${field}`, `${JSON.stringify(c[field])} is not an IPv${v6 ? 6 : 4} address`);
    return ip;
  };
  if (typeof c.hostProbeSnat !== 'boolean') throw new PodBodyError('capture.hostProbeSnat', `must be true or false, not ${JSON.stringify(c.hostProbeSnat)}`);
  return { probeAddress: address('probeAddress', false), probeAddressV6: address('probeAddressV6', true), hostProbeSnat: c.hostProbeSnat };
}

/**
 * Checks a `POST /v1/pods` body (or a persisted registration) and returns the pod with canonical
 * IPs. Throws PodBodyError naming the first field at fault. Unknown fields are ignored so a newer
 * CNI plugin can talk to an older agent.
 */
export function parsePodBody(value: unknown): RegisteredPod {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PodBodyError('$', 'the body must be a JSON object');
  }
  const body = value as Record<string, unknown>;
  const uid = text(body, 'uid', 256);
  const namespace = text(body, 'namespace');
  const name = text(body, 'name');
  const netns = text(body, 'netns', 4096);
  if (!isAbsolute(netns)) throw new PodBodyError('netns', `"${netns}" is not an absolute path`);
  const settings = capture(body);
  return { uid, namespace, name, netns, ips: ips(body), ...(settings ? { capture: settings } : {}) };
}

/**
 * `deadlineMs` of a `POST /v1/pods` body: Unix time in milliseconds after which the CNI plugin no
 * longer waits for the answer (and rolls the pod back). Optional, for plugins that send none.
 */
export function parseDeadline(value: unknown): number | undefined {
  const deadline = (value as Record<string, unknown>).deadlineMs;
  if (deadline === undefined) return undefined;
  if (typeof deadline !== 'number' || !Number.isFinite(deadline) || deadline <= 0) {
    throw new PodBodyError('deadlineMs', `must be a positive number of milliseconds since the epoch, not ${JSON.stringify(deadline)}`);
  }
  return deadline;
}
