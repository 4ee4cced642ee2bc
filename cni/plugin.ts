import { AgentClient } from './agent-client.js';
import { add } from './commands/add.js';
import { check } from './commands/check.js';
import { withContainerLock, type CommandContext } from './commands/context.js';
import { del } from './commands/del.js';
import { status } from './commands/status.js';
import { version } from './commands/version.js';
import { parseCniEnv } from './env.js';
import { errorResult } from './errors.js';
import { parseNetConf, peekVersion } from './netconf.js';
import { pluginLogger } from './log.js';
import { requireCommandVersion, requireSupportedVersion } from './version.js';

export interface PluginOutcome {
  readonly exitCode: number;
  /** JSON text for stdout, or '' when the command prints nothing. */
  readonly stdout: string;
}

async function dispatch(ctx: CommandContext): Promise<Record<string, unknown> | undefined> {
  switch (ctx.env.command) {
    // One container's ADD and DEL never interleave, whichever processes run them.
    case 'ADD': return withContainerLock(ctx, () => add(ctx));
    case 'DEL': await withContainerLock(ctx, () => del(ctx)); return undefined;
    case 'CHECK': await check(ctx); return undefined;
    case 'STATUS': await status(ctx); return undefined;
    // The plugin keeps no per-attachment state (rules live and die with the pod netns; the agent
    // drops registrations whose netns is gone), so there is nothing to collect.
    case 'GC': return undefined;
    case 'VERSION': return version(ctx.conf.cniVersion);
  }
}

/** One CNI invocation: environment and stdin in, result or error JSON out. */
export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string): Promise<PluginOutcome> {
  const requested = peekVersion(stdin);
  let cniVersion = requested ?? '1.0.0';
  try {
    const cniEnv = parseCniEnv(env);
    if (cniEnv.command === 'VERSION') return { exitCode: 0, stdout: JSON.stringify(version(requested)) };
    const conf = parseNetConf(stdin);
    cniVersion = conf.cniVersion;
    requireSupportedVersion(conf.cniVersion);
    requireCommandVersion(cniEnv.command, conf.cniVersion);
    const log = pluginLogger(conf.logFile, conf.logLevel, { command: cniEnv.command, containerId: cniEnv.containerId });
    const ctx: CommandContext = { env: cniEnv, conf, log, agent: new AgentClient(conf.agentSocket, conf.agentTimeoutMs) };
    try {
      const result = await dispatch(ctx);
      return { exitCode: 0, stdout: result ? JSON.stringify(result) : '' };
    } catch (err) {
      const e = errorResult(err, cniVersion);
      log.error(e.msg, { code: e.code, details: e.details });
      return { exitCode: 1, stdout: JSON.stringify(e) };
    }
  } catch (err) {
    return { exitCode: 1, stdout: JSON.stringify(errorResult(err, cniVersion)) };
  }
}
