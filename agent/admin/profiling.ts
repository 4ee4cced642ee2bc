import { Session } from 'node:inspector/promises';
import type { Readable } from 'node:stream';
import { getHeapSnapshot } from 'node:v8';
import { AdminRequestError } from './errors.js';

/**
 * Profiles on demand, for the admin API only (loopback peers): a V8 heap snapshot
 * (`.heapsnapshot`, for Chrome DevTools' Memory tab) and a sampling CPU profile (`.cpuprofile`,
 * for DevTools' Performance tab or speedscope). A heap snapshot stops the event loop while V8
 * writes it — seconds for a large heap — which is the price of asking; a CPU profile only adds
 * the sampler's overhead. One CPU profile runs at a time.
 */
export const CPU_PROFILE_MAX_SECONDS = 300;
const DEFAULT_SECONDS = 10;
const DEFAULT_HZ = 100;

export function heapSnapshot(): Readable {
  return getHeapSnapshot();
}

function intParam(url: URL, name: string, min: number, max: number, fallback: number): number {
  const text = url.searchParams.get(name);
  if (text === null) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new AdminRequestError(`${name}: "${text}" is not a whole number from ${min} to ${max}`);
  return Number(text);
}

let profiling = false;

/** `?seconds=1..300` (default 10), `?frequency=1..1000` Hz (default 100), as ztunnel's pprof endpoint. */
export async function cpuProfile(url: URL): Promise<unknown> {
  const seconds = intParam(url, 'seconds', 1, CPU_PROFILE_MAX_SECONDS, DEFAULT_SECONDS);
  const hz = intParam(url, 'frequency', 1, 1000, DEFAULT_HZ);
  if (profiling) throw new AdminRequestError('a CPU profile is already being taken; try again when it is done', 409);
  profiling = true;
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: Math.round(1_000_000 / hz) });
    await session.post('Profiler.start');
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const { profile } = await session.post('Profiler.stop');
    return profile;
  } finally {
    session.disconnect();
    profiling = false;
  }
}
