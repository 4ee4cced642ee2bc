import { RedirectError, applyInpodRules, bypassInpodRules, removeInpodRules } from './apply.js';
import { inNetns } from './exec.js';
import { addProbeSnat, removeProbeSnat } from './host-probe.js';
import { DEFAULT_PROBE_ADDRESS, DEFAULT_PROBE_ADDRESS_V6 } from './rules.js';

/** How a pod is captured; the same for `meshnode-cni` at ADD and for the agent's live enrolment. */
export interface CaptureOptions {
  readonly probeAddress?: string;
  readonly probeAddressV6?: string;
  /** Also SNAT the node's own connections to the pod (kubelet probes) to the probe address. */
  readonly hostProbeSnat: boolean;
}

/** A pod to capture: its netns file and its IPs (one IPv6 among them captures IPv6 too). */
export interface CaptureTarget {
  readonly uid: string;
  readonly netns: string;
  readonly ips: readonly string[];
}

async function sysctl(netns: string, key: string, value: string): Promise<string | undefined> {
  const r = await inNetns(netns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
  return r.code === 0 ? undefined : `${key} not set in ${netns}: ${r.stderr || `sysctl exited with ${r.code}`}`;
}

/**
 * Connection tracking starts in a netns with its first NAT rule, so the connections a running pod
 * already has are unknown to it. With loose pickup (the default) their next packet would count as
 * a new connection and be redirected to a listener that never saw it: a reset. Strict pickup
 * leaves such packets untracked, and untracked packets are never redirected, so those connections
 * carry on where they went. Set before the rules where the conntrack module is loaded already,
 * after them otherwise (the rules load it).
 */
const STRICT_PICKUP = ['net.netfilter.nf_conntrack_tcp_loose', '0'] as const;

/**
 * Lets a closing listener hand the connections still in its accept queue to another listener of
 * the same SO_REUSEPORT group instead of resetting them: a new agent takes over a pod's ports and
 * the old one closes its listeners without losing a connection. Kernels before 5.14 lack it.
 */
const MIGRATE_ACCEPT_QUEUES = ['net.ipv4.tcp_migrate_req', '1'] as const;

/**
 * Captures a pod: the redirection rules and policy routing in its netns, then (optionally) the
 * host probe SNAT. All or nothing: when a step fails what was applied is removed and the error
 * thrown. Resolves with warnings for what is not needed for capture but was not done.
 */
export async function capturePod(target: CaptureTarget, opts: CaptureOptions): Promise<{ warnings: string[] }> {
  const ipv6 = target.ips.some((ip) => ip.includes(':'));
  const early = await sysctl(target.netns, ...STRICT_PICKUP);
  await applyInpodRules(target.netns, { ipv6, probeAddress: opts.probeAddress, probeAddressV6: opts.probeAddressV6 });
  if (opts.hostProbeSnat) {
    const probe = { v4: opts.probeAddress ?? DEFAULT_PROBE_ADDRESS, v6: opts.probeAddressV6 ?? DEFAULT_PROBE_ADDRESS_V6 };
    await addProbeSnat(target.ips, target.uid, probe).catch(async (err: unknown) => {
      await removeProbeSnat(target.uid).catch(() => undefined);
      await removeInpodRules(target.netns).catch(() => undefined);
      throw err;
    });
  }
  const warnings = [early && await sysctl(target.netns, ...STRICT_PICKUP), await sysctl(target.netns, ...MIGRATE_ACCEPT_QUEUES)];
  return { warnings: warnings.filter((w): w is string => w !== undefined) };
}

async function undo(target: Pick<CaptureTarget, 'uid' | 'netns'>, opts: Pick<CaptureOptions, 'hostProbeSnat'>, inpod: (netns: string) => Promise<void>): Promise<void> {
  const problems: string[] = [];
  if (opts.hostProbeSnat) await removeProbeSnat(target.uid).catch((err: Error) => problems.push(`probe SNAT: ${err.message}`));
  await inpod(target.netns).catch((err: Error) => problems.push(`in-pod rules: ${err.message}`));
  if (problems.length > 0) throw new RedirectError(problems.join('; '));
}

/**
 * Releases a pod: the host probe SNAT and every in-pod rule go. Both steps always run (one failing
 * never skips the other); the errors of both are thrown together. Succeeds when nothing is left
 * to remove or the netns is gone.
 */
export function releasePod(target: Pick<CaptureTarget, 'uid' | 'netns'>, opts: Pick<CaptureOptions, 'hostProbeSnat'>): Promise<void> {
  return undo(target, opts, removeInpodRules);
}

/**
 * Releases a running pod without breaking its open connections: new connections are no longer
 * redirected (bypassInpodRules), those already redirected keep going to the listeners' accepted
 * sockets until they end. The host probe SNAT goes. Both steps always run.
 */
export function bypassPod(target: Pick<CaptureTarget, 'uid' | 'netns'>, opts: Pick<CaptureOptions, 'hostProbeSnat'>): Promise<void> {
  return undo(target, opts, bypassInpodRules);
}
