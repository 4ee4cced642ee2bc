import { dirname, join } from 'node:path';
import type { Logger } from '../../agent/telemetry/log.js';
import { AgentError, type AgentClient } from '../agent-client.js';
import { lockContainer } from '../container-lock.js';
import type { CniEnv } from '../env.js';
import { CniCode, CniError } from '../errors.js';
import type { NetConf } from '../netconf.js';
import type { CaptureOptions, InpodRuleOptions } from '../../agent/capture/index.js';
import { resultAt } from '../result-version.js';

export interface CommandContext {
  readonly env: CniEnv;
  readonly conf: NetConf;
  readonly log: Logger;
  readonly agent: AgentClient;
}

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/** The Kubernetes pod this call is for, or undefined (with the reason logged) when we skip it. */
export function podOf(ctx: CommandContext): PodRef | undefined {
  const { namespace, name, uid } = ctx.env.pod;
  if (!namespace || !name) {
    ctx.log.info('not a kubernetes pod (no K8S_POD_NAMESPACE/K8S_POD_NAME in CNI_ARGS); nothing to do');
    return undefined;
  }
  if (ctx.conf.excludeNamespaces.includes(namespace)) {
    ctx.log.info('namespace is excluded in the network config; nothing to do', { namespace });
    return undefined;
  }
  return { namespace, name, uid };
}

export function captureOptions(conf: NetConf): Required<CaptureOptions> {
  return { probeAddress: conf.probeAddress, probeAddressV6: conf.probeAddressV6, hostProbeSnat: conf.hostProbeSnat };
}

export function redirectOptions(conf: NetConf, ips: readonly string[]): InpodRuleOptions {
  return { ipv6: ips.some((ip) => ip.includes(':')), probeAddress: conf.probeAddress, probeAddressV6: conf.probeAddressV6 };
}

/**
 * Longest a call waits for the container lock: longer than a holder can keep it, which makes at
 * most three agent calls (enrolment, registration, unregistration on rollback) plus iptables work.
 */
export function lockTimeoutMs(conf: NetConf): number {
  return 3 * conf.agentTimeoutMs + 10_000;
}

/**
 * Runs `fn` holding the container's lock (container-lock.ts), kept in the agent's socket directory:
 * the one directory every plugin call talking to this agent shares.
 */
export async function withContainerLock<T>(ctx: CommandContext, fn: () => Promise<T>): Promise<T> {
  const dir = join(dirname(ctx.conf.agentSocket), 'cni-locks');
  const lock = await lockContainer(dir, ctx.env.containerId, lockTimeoutMs(ctx.conf)).catch((err: Error) => {
    throw new CniError(CniCode.TryAgainLater, `cannot serialise ${ctx.env.command} for container ${ctx.env.containerId}`,
      `${err.message}. Concurrent ADD/DEL of one container run one after another; try again later.`);
  });
  try {
    return await fn();
  } finally {
    lock?.release();
  }
}

/** Maps an agent failure to a CNI error that says what the operator should look at. */
export function agentFailure(err: unknown, ctx: CommandContext, action: string): CniError {
  if (err instanceof AgentError && err.kind === 'unreachable') {
    return new CniError(CniCode.TryAgainLater, `meshnode agent unreachable; ${action}`,
      `${err.message}. Check that the meshnode agent runs on this node with --cni-socket ${ctx.conf.agentSocket} ` +
      '(kubectl -n meshnode-system get pods -o wide) and that the socket path matches "agentSocket" in the CNI config.');
  }
  if (err instanceof AgentError) return new CniError(CniCode.RegistrationRefused, `${action}: ${err.message}`, 'see the meshnode agent log on this node for the reason');
  return new CniError(CniCode.Internal, action, err instanceof Error ? err.message : String(err));
}

/**
 * What ADD prints: the previous plugin's result unchanged but in the config's cniVersion (the
 * runtime parses it as that version), or a bare result without one.
 */
export function passThrough(conf: NetConf): Record<string, unknown> {
  return conf.prevResult ? resultAt(conf.prevResult.raw, conf.cniVersion) : { cniVersion: conf.cniVersion };
}
