import type { LogLevels } from '../../telemetry/log.js';
import { UsageError } from '../usage-error.js';
import { callAdmin, getJson } from './client.js';
import { ctlFlagsUsage, parseCtl } from './flags.js';
import { reportingAdminErrors } from './list.js';
import { structured, table } from './output.js';

export const usage = `usage: meshnode ctl log [--level [COMPONENT=]LEVEL]... [--reset] [--admin HOST:PORT] [-o table|json|yaml]

Shows a running agent's log levels: the default and every component's (agent.proxy,
agent.certs, access, ...), and changes them at run time. LEVEL is debug, info, warn or error;
COMPONENT names a component or any dotted part of one (proxy covers agent.proxy and
agent.proxy.pod; access is the access log). The most specific setting wins.

  --level [COMPONENT=]LEVEL  set the default level, or one component's (repeatable)
  --reset                    drop every component setting first
${ctlFlagsUsage}`;

const LEVEL = /^(?:([A-Za-z0-9_.-]+)=)?(debug|info|warn|error)$/;

export function run(argv: string[]): Promise<number> {
  const { values, target, format } = parseCtl(argv, { level: { type: 'string', multiple: true }, reset: { type: 'boolean', default: false } });
  const levels = (values.level as string[] | undefined) ?? [];
  for (const l of levels) if (!LEVEL.test(l)) throw new UsageError(`--level: "${l}" is not LEVEL or COMPONENT=LEVEL (levels: debug, info, warn, error)`);
  return reportingAdminErrors('ctl log', async () => {
    if (levels.length > 0 || values.reset) {
      await callAdmin(target, 'POST', '/logging', { ...(values.reset ? { reset: '' } : {}), ...(levels.length > 0 ? { level: levels.join(',') } : {}) });
    }
    const current = await getJson<LogLevels>(target, '/logging');
    if (format !== 'table') {
      process.stdout.write(structured(format, current));
      return 0;
    }
    const rows = Object.entries(current.components).map(([component, level]) => ({ component, level, set: current.directives[component] !== undefined }));
    process.stdout.write(`default level: ${current.level}\n`);
    const directives = Object.entries(current.directives).map(([c, l]) => `${c}=${l}`).join(', ');
    if (directives) process.stdout.write(`settings: ${directives}\n`);
    process.stdout.write('\n' + table(rows, [['COMPONENT', (r) => r.component], ['LEVEL', (r) => r.level]], 'No components have logged yet.'));
    return 0;
  });
}
