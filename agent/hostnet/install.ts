import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MeshnodeError } from '../base/errors.js';
import { parseIptablesSave, type SavedTable } from '../base/netfilter/saved-rules.js';
import { presentJumps, removalText, restoreText, rulesetProblems, type TableRules } from '../base/netfilter/ruleset.js';
import { runCommand } from '../process/run-command.js';
import { toolEnv } from '../process/tool-env.js';
import { HOST_CHAINS, HOST_TABLES, renderHostRules, type HostCaptureSpec, type RenderedHostFamily } from './rules.js';

/** Installing, checking or removing the host capture rules failed; the message names the step. */
export class HostRulesError extends MeshnodeError {
  readonly code = 'ERR_HOST_RULES';
}

/** Where the agent records the ruleset it installed, under its --state-dir. */
export const HOST_RULES_RECORD = 'host-rules.json';
export const recordPath = (stateDir: string) => join(stateDir, HOST_RULES_RECORD);

/** The record file: what `meshnode host-rules check` compares the live rules with. */
export interface HostRulesRecord {
  readonly version: 1;
  readonly installedAt: string;
  readonly spec: HostCaptureSpec;
  readonly families: readonly RenderedHostFamily[];
}

const tool = (family: 4 | 6, name: 'save' | 'restore') => `${family === 4 ? 'iptables' : 'ip6tables'}-${name}`;

async function exec(cmd: string, args: readonly string[], input = ''): Promise<string> {
  const r = await runCommand(cmd, args, { input, env: toolEnv() }).catch((err: Error) => {
    throw new HostRulesError(`cannot run ${cmd}: ${err.message}`);
  });
  if (r.code !== 0) throw new HostRulesError(`${cmd} ${args.join(' ')} exited with ${r.code}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  return r.stdout;
}

async function save(family: 4 | 6): Promise<Map<string, SavedTable>> {
  return parseIptablesSave(await exec(tool(family, 'save'), ['-t', 'nat']));
}

async function restore(family: 4 | 6, text: string): Promise<void> {
  await exec(tool(family, 'restore'), ['--noflush', '--wait'], text);
}

async function applyFamily(family: 4 | 6, tables: readonly TableRules[]): Promise<void> {
  await restore(family, restoreText(tables, presentJumps(tables, await save(family))));
}

/**
 * Installs (or replaces) the capture rules in the agent's own netns, both families, each
 * committed atomically, and records them. Idempotent: re-installing the same spec changes
 * nothing, and our chains are flushed and rewritten, never duplicated. Nothing here removes
 * the rules — a stopped or crashed agent leaves captured ports failing closed.
 */
export async function installHostRules(spec: HostCaptureSpec, stateDir: string): Promise<HostRulesRecord> {
  const families = renderHostRules(spec);
  for (const f of families) await applyFamily(f.family, f.tables);
  const record: HostRulesRecord = { version: 1, installedAt: new Date().toISOString(), spec, families };
  const file = recordPath(stateDir);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2) + '\n', { mode: 0o644 });
  await rename(`${file}.tmp`, file);
  return record;
}

export async function readHostRulesRecord(stateDir: string): Promise<HostRulesRecord | undefined> {
  const file = recordPath(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HostRulesError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const record = JSON.parse(text) as HostRulesRecord;
    if (record.version !== 1 || !Array.isArray(record.families)) throw new Error('not a version 1 record');
    return record;
  } catch (err) {
    throw new HostRulesError(`${file} is not a host rules record: ${(err as Error).message}`);
  }
}

/** Drift between the recorded ruleset and the live one ([] = as installed). */
export async function checkHostRules(stateDir: string): Promise<string[]> {
  const record = await readHostRulesRecord(stateDir);
  if (!record) return [`no host rules recorded in ${recordPath(stateDir)}: the agent has not installed any in host mode`];
  const problems: string[] = [];
  for (const f of record.families) problems.push(...rulesetProblems(f.tables, await save(f.family), tool(f.family, 'save')));
  return problems;
}

/** Removes our chains and jumps from both families and the record; succeeds when already gone. */
export async function removeHostRules(stateDir: string): Promise<{ removed: boolean }> {
  let removed = false;
  for (const family of [4, 6] as const) {
    const text = removalText(await save(family), HOST_CHAINS, HOST_TABLES);
    if (!text) continue;
    await restore(family, text);
    removed = true;
  }
  await rm(recordPath(stateDir), { force: true });
  return { removed };
}
