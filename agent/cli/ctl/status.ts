import type { agentStatus } from '../../admin/status.js';
import { getJson } from './client.js';
import { ctlFlagsUsage, parseCtl } from './flags.js';
import { reportingAdminErrors } from './list.js';
import { structured } from './output.js';

export const usage = `usage: meshnode ctl status [--admin HOST:PORT] [-o table|json|yaml]

Summarizes a running agent: whether it is ready and what readiness waits for, each mesh source
(file, istiod over xDS) with its sync state, certificate health and the pods it captures.
Exit status: 0 the agent is ready, 3 it is not ready, 1 it cannot be reached.

${ctlFlagsUsage}`;

/** `meshnode ctl status` exits 3 while the agent is not ready, so scripts can wait on it. */
export const EXIT_NOT_READY = 3;

type Status = ReturnType<typeof agentStatus>;
interface SourceLine { name: string; origin: string; state: string; lastAppliedAt?: string; lastError?: string; counts?: Record<string, number> }

export function run(argv: string[]): Promise<number> {
  const { target, format } = parseCtl(argv, {});
  return reportingAdminErrors('ctl status', async () => {
    const s = await getJson<Status>(target, '/status');
    if (format !== 'table') process.stdout.write(structured(format, s));
    else process.stdout.write(text(s));
    return s.ready ? 0 : EXIT_NOT_READY;
  });
}

function text(s: Status): string {
  const lines = [`node:         ${s.node} (meshnode ${s.version})`, `ready:        ${s.ready ? 'yes' : 'no'}`];
  for (const b of s.blockers) lines.push(`  waiting:    ${b.name}${b.waitsFor ? ` — ${b.waitsFor}` : ''} (since ${b.since})`);
  for (const f of s.failing) lines.push(`  failing:    ${f}`);
  for (const src of s.sources as SourceLine[]) {
    const counts = src.counts ? ` — ${Object.entries(src.counts).map(([k, v]) => `${v} ${k}`).join(', ')}` : '';
    lines.push(`source:       ${src.name} ${src.origin}: ${src.state}${src.lastAppliedAt ? ` (applied ${src.lastAppliedAt})` : ''}${counts}`);
    if (src.lastError) lines.push(`  last error: ${src.lastError}`);
  }
  const c = s.certificates;
  lines.push(`certificates: ${c.available}/${c.total} available, ${c.initializing} initializing, ${c.unavailable} unavailable${c.earliestExpiry ? `; earliest expiry ${c.earliestExpiry}` : ''}`);
  for (const p of c.problems) lines.push(`  ${p.identity}: ${p.state}${p.lastError ? ` (${p.lastError})` : ''}`);
  lines.push(`pods:         ${s.pods.captured} captured, ${s.pods.openConnections} open connections`);
  return lines.join('\n') + '\n';
}
