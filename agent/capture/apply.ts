import { existsSync } from 'node:fs';
import { inNetns, type ExecResult } from './exec.js';
import {
  CHAIN_OUTPUT, CHAIN_PREROUTING, OUR_CHAINS, RULE_TABLES, renderInpodRules, restoreText,
  type InpodRouting, type InpodRuleOptions, type RenderedFamily,
} from './rules.js';
import { chainRules, parseIptablesSave, type SavedTable } from '../base/netfilter/saved-rules.js';
import { presentJumps, removalText, rulesetProblems } from '../base/netfilter/ruleset.js';
import { MeshnodeError } from '../base/errors.js';

/** Applying or removing the in-pod rules failed; `message` names the step and the tool's error. */
export class RedirectError extends MeshnodeError {
  readonly code = 'ERR_REDIRECT';
  constructor(message: string, readonly netnsMissing = false) {
    super(message);
  }
}

const tool = (family: 4 | 6, name: 'save' | 'restore') => `${family === 4 ? 'iptables' : 'ip6tables'}-${name}`;

function failed(step: string, r: ExecResult): string {
  return `${step} exited with ${r.code}${r.stderr ? `: ${r.stderr.split('\n').slice(0, 3).join(' | ')}` : ''}`;
}

async function save(netnsPath: string, family: 4 | 6): Promise<Map<string, SavedTable>> {
  const r = await inNetns(netnsPath, tool(family, 'save'), []);
  if (r.code !== 0) throw new RedirectError(failed(tool(family, 'save'), r));
  return parseIptablesSave(r.stdout);
}

function requireNetns(netnsPath: string): void {
  if (!existsSync(netnsPath)) throw new RedirectError(`network namespace ${netnsPath} does not exist`, true);
}

async function applyFamily(netnsPath: string, rendered: RenderedFamily): Promise<void> {
  const saved = await save(netnsPath, rendered.family);
  const text = restoreText(rendered.tables, presentJumps(rendered.tables, saved));
  const r = await inNetns(netnsPath, tool(rendered.family, 'restore'), ['--noflush', '--wait'], text);
  if (r.code !== 0) throw new RedirectError(failed(`${tool(rendered.family, 'restore')} --noflush`, r));
}

/** IPv6 is never left alone (see renderInpodRules), so failing to handle it fails the pod. */
async function applyV6(netnsPath: string, rendered: RenderedFamily): Promise<void> {
  await applyFamily(netnsPath, rendered).catch((err: Error) => {
    throw new RedirectError('ip6tables is required even for a pod without an IPv6 address: every pod interface has an ' +
      `fe80:: link-local address, which must be captured or refused; ${err.message}`);
  });
}

async function applyRouting(netnsPath: string, routing: InpodRouting): Promise<void> {
  const batch = `route replace ${routing.route.join(' ')}\nrule add ${routing.rule.join(' ')}\n`;
  const r = await inNetns(netnsPath, 'ip', [`-${routing.family}`, '-force', '-batch', '-'], batch);
  // `ip rule` has no replace: an existing identical rule ("File exists") is what we want.
  const errors = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Command failed') && !l.includes('File exists'));
  if (r.code !== 0 && errors.length > 0) throw new RedirectError(`ip -${routing.family} policy routing: ${errors.join(' | ')}`);
}

/**
 * Installs the redirection rules and policy routing in the pod netns. Each table is committed
 * atomically by iptables-restore; if any step fails, everything already applied is removed again,
 * so the pod is never left half-captured.
 */
export async function applyInpodRules(netnsPath: string, opts: InpodRuleOptions): Promise<void> {
  requireNetns(netnsPath);
  const rendered = renderInpodRules(opts);
  try {
    for (const family of rendered.families) await (family.family === 6 ? applyV6 : applyFamily)(netnsPath, family);
    for (const routing of rendered.routes) await applyRouting(netnsPath, routing);
  } catch (err) {
    await removeInpodRules(netnsPath).catch(() => undefined);
    throw err;
  }
}

/**
 * Stops capturing new connections while leaving the ones already redirected alone: a RETURN at
 * the top of our nat chains. Deleting a REDIRECT rule resets the connections it redirected
 * (their translation goes with it, with iptables-nft), so it stays below the RETURN, inert, until
 * the next capture rewrites the chains or DEL removes them. Idempotent; a missing netns is fine.
 */
export async function bypassInpodRules(netnsPath: string): Promise<void> {
  if (!existsSync(netnsPath)) return;
  for (const family of [4, 6] as const) {
    const nat = (await save(netnsPath, family)).get('nat');
    const bypass = [CHAIN_PREROUTING, CHAIN_OUTPUT]
      .filter((c) => nat?.chains.has(c) && chainRules(nat, c)[0] !== `-A ${c} -j RETURN`)
      .map((c) => `-I ${c} 1 -j RETURN`);
    if (bypass.length === 0) continue;
    const r = await inNetns(netnsPath, tool(family, 'restore'), ['--noflush', '--wait'], ['*nat', ...bypass, 'COMMIT', ''].join('\n'));
    if (r.code !== 0) throw new RedirectError(failed(`${tool(family, 'restore')} --noflush (bypass)`, r));
  }
}

/**
 * Removes our chains, jumps and policy routing from the pod netns. Succeeds when they are already
 * gone and when the netns itself no longer exists (CNI DEL semantics).
 */
export async function removeInpodRules(netnsPath: string): Promise<void> {
  if (!existsSync(netnsPath)) return;
  const problems: string[] = [];
  for (const family of [4, 6] as const) {
    const saved = await save(netnsPath, family).catch((err: Error) => { problems.push(err.message); return undefined; });
    const text = saved && removalText(saved, OUR_CHAINS, RULE_TABLES);
    if (!text) continue;
    const r = await inNetns(netnsPath, tool(family, 'restore'), ['--noflush', '--wait'], text);
    if (r.code !== 0) problems.push(failed(`${tool(family, 'restore')} --noflush (removal)`, r));
  }
  for (const family of [4, 6] as const) {
    const routing = renderInpodRules({ ipv6: true }).routes.find((r) => r.family === family)!;
    const batch = `rule del ${routing.rule.join(' ')}\nroute del ${routing.route.join(' ')}\n`;
    await inNetns(netnsPath, 'ip', [`-${family}`, '-force', '-batch', '-'], batch); // absent is fine
  }
  if (problems.length > 0 && existsSync(netnsPath)) throw new RedirectError(problems.join('; '));
}

/**
 * Lists what is missing or different from the expected rules and routing ([] = all present).
 * Chains are compared rule by rule in order, so a deleted or reordered rule is caught.
 */
export async function checkInpodRules(netnsPath: string, opts: InpodRuleOptions): Promise<string[]> {
  requireNetns(netnsPath);
  const rendered = renderInpodRules(opts);
  const problems: string[] = [];
  for (const family of rendered.families) {
    problems.push(...rulesetProblems(family.tables, await save(netnsPath, family.family), tool(family.family, 'save')));
  }
  for (const routing of rendered.routes) problems.push(...await checkRouting(netnsPath, routing));
  return problems;
}

async function checkRouting(netnsPath: string, routing: InpodRouting): Promise<string[]> {
  const f = `-${routing.family}`;
  const rules = await inNetns(netnsPath, 'ip', [f, 'rule', 'show', 'pref', routing.rule[3]!]);
  const routes = await inNetns(netnsPath, 'ip', [f, 'route', 'show', 'table', routing.route[5]!]);
  const problems: string[] = [];
  if (!rules.stdout.includes(`fwmark ${routing.rule[1]} lookup ${routing.rule[5]}`)) {
    problems.push(`ip ${f} rule "${routing.rule.join(' ')}" is missing`);
  }
  if (!/^local default dev lo\b/m.test(routes.stdout)) problems.push(`ip ${f} route "${routing.route.join(' ')}" is missing`);
  return problems;
}
