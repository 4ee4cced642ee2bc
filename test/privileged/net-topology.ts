import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { uniqueName } from '../helpers/privileged.js';

const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command inside a named netns (test set-up only; the code under test uses setns). */
export function inNs(ns: string, cmd: string, args: string[]): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export interface Pair {
  a: { ns: string; path: string; v4: string; v6: string };
  b: { ns: string; path: string; v4: string; v6: string };
}

/**
 * Two network namespaces joined by a veth pair, each with an IPv4 and an IPv6 address on a
 * subnet unique to this run. Removed on teardown, even when the test fails.
 */
export function vethPair(t: ExecutionContext): Pair {
  const a = uniqueName('d1a');
  const b = uniqueName('d1b');
  const n = randomInt(1, 250);
  const m = randomInt(1, 250);
  const v4 = (host: number) => `10.${200 + (n % 50)}.${m}.${host}`;
  const v6 = (host: number) => `fd00:d1:${n.toString(16)}:${m.toString(16)}::${host}`;
  t.teardown(() => {
    for (const ns of [a, b]) {
      try { run('ip', ['netns', 'del', ns]); } catch { /* already gone */ }
    }
  });
  run('ip', ['netns', 'add', a]);
  run('ip', ['netns', 'add', b]);
  run('ip', ['link', 'add', 'veth0', 'netns', a, 'type', 'veth', 'peer', 'name', 'veth0', 'netns', b]);
  for (const [ns, host] of [[a, 1], [b, 2]] as const) {
    inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    inNs(ns, 'ip', ['addr', 'add', `${v4(host)}/24`, 'dev', 'veth0']);
    inNs(ns, 'ip', ['-6', 'addr', 'add', `${v6(host)}/64`, 'dev', 'veth0', 'nodad']);
    inNs(ns, 'ip', ['link', 'set', 'veth0', 'up']);
  }
  return {
    a: { ns: a, path: `/run/netns/${a}`, v4: v4(1), v6: v6(1) },
    b: { ns: b, path: `/run/netns/${b}`, v4: v4(2), v6: v6(2) },
  };
}
