import { execFileSync } from 'node:child_process';
import { uniqueName } from './privileged.js';

export interface PodNetns {
  readonly name: string;
  /** What the CNI plugin would send as the pod's netns. */
  readonly path: string;
}

/** An empty named netns with `lo` up, standing in for a pod's; deleted when the test ends. Root only. */
export function podNetns(t: { teardown(fn: () => void): void }, prefix: string): PodNetns {
  const name = uniqueName(prefix);
  execFileSync('ip', ['netns', 'add', name]);
  t.teardown(() => { try { execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' }); } catch { /* gone */ } });
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return { name, path: `/run/netns/${name}` };
}

/** Listening sockets per pod proxy port inside netns `name` (SO_REUSEPORT would allow duplicates). */
export function podPortSockets(name: string): Record<number, number> {
  const out = execFileSync('ip', ['netns', 'exec', name, 'ss', '-Htln'], { encoding: 'utf8' });
  const count = (p: number) => out.split('\n').filter((l) => l.includes(`:${p} `)).length;
  return { 15001: count(15001), 15006: count(15006), 15008: count(15008) };
}

/** The pod proxy ports (15001, 15006, 15008) listening inside netns `name`. */
export function listeningPodPorts(name: string): number[] {
  return Object.entries(podPortSockets(name)).filter(([, n]) => n > 0).map(([p]) => Number(p));
}

/** A CNI API registration (`POST /v1/pods`) of a pod in namespace `shop`. */
export function podBody(uid: string, name: string, netns: string, ip: string): string {
  return JSON.stringify({ uid, namespace: 'shop', name, netns, ips: [ip] });
}
