import { checkHostRules, HostRulesError, readHostRulesRecord, recordPath, removeHostRules } from '../hostnet/index.js';
import { DEFAULT_STATE_DIR } from './state-dir.js';
import { parseFlags } from './flags.js';

/**
 * `meshnode host-rules check|remove`: the capture rules a host-mode agent installed in the host
 * netns. The agent never removes them itself, so a stopped agent fails closed; taking a host out
 * of the mesh is this explicit step.
 */
const common = `  --state-dir DIR   where the agent recorded the rules it installed (default ${DEFAULT_STATE_DIR})`;

export const checkUsage = `usage: meshnode host-rules check [--state-dir DIR]

Compares the host-mode capture rules in iptables and ip6tables (nat table, chains
MESHNODE_HOST_INBOUND and MESHNODE_HOST_OUTPUT) with what the agent recorded in
DIR/host-rules.json, rule by rule, and prints every difference.
Exit status: 0 as installed, 1 drift (or nothing recorded), 2 bad flags.

${common}`;

export const removeUsage = `usage: meshnode host-rules remove [--state-dir DIR]

Removes the host-mode capture chains and the jumps into them from iptables and ip6tables, and
the record. Captured ports then reach applications directly, in plaintext, without policy.
Exit status: 0 removed or nothing to remove, 1 failure, 2 bad flags.

${common}`;

function stateDir(argv: string[]): string {
  return parseFlags(argv, { 'state-dir': { type: 'string', default: DEFAULT_STATE_DIR } })['state-dir'];
}

async function reported(fn: () => Promise<number>, verb: string): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof HostRulesError)) throw err;
    process.stderr.write(`meshnode host-rules ${verb}: ${err.message}\n`);
    return 1;
  }
}

export function check(argv: string[]): Promise<number> {
  const dir = stateDir(argv);
  return reported(async () => {
    const problems = await checkHostRules(dir);
    for (const p of problems) process.stdout.write(`${p}\n`);
    if (problems.length > 0) return 1;
    const record = await readHostRulesRecord(dir);
    process.stdout.write(`host capture rules as installed at ${record?.installedAt ?? '?'} (${recordPath(dir)})\n`);
    return 0;
  }, 'check');
}

export function remove(argv: string[]): Promise<number> {
  const dir = stateDir(argv);
  return reported(async () => {
    const { removed } = await removeHostRules(dir);
    process.stdout.write(removed ? 'host capture rules removed\n' : 'no host capture rules were installed\n');
    return 0;
  }, 'remove');
}
