import type { TlsCheck } from '../../admin/tls-check.js';
import { parsePort } from '../flags.js';
import { UsageError } from '../usage-error.js';
import { getJson } from './client.js';
import { ctlFlagsUsage, parseCtl } from './flags.js';
import { reportingAdminErrors } from './list.js';
import { structured } from './output.js';

export const usage = `usage: meshnode ctl tls-check SRC DST [--port PORT] [--admin HOST:PORT] [-o table|json|yaml]

Says whether traffic from workload SRC to workload DST (each NAMESPACE/NAME) is carried over
mutual TLS (HBONE) or as plaintext, and which policy decides it: the authorization the
destination's agent would make for it with the policies in force now.

  --port PORT          destination port (default: the first port of the first service DST backs)
${ctlFlagsUsage}`;

const WORKLOAD = /^[^/\s]+\/[^/\s]+$/;

export function run(argv: string[]): Promise<number> {
  const { values, positionals, target, format } = parseCtl(argv, { port: { type: 'string' } }, ['SRC', 'DST']);
  const [src, dst] = positionals as [string, string];
  for (const [name, value] of [['SRC', src], ['DST', dst]] as const) {
    if (!WORKLOAD.test(value)) throw new UsageError(`${name}: "${value}" is not NAMESPACE/NAME`);
  }
  const port = values.port === undefined ? undefined : String(parsePort(values.port as string, 'port'));
  return reportingAdminErrors('ctl tls-check', async () => {
    const r = await getJson<TlsCheck>(target, '/tls-check', { src, dst, port });
    if (format !== 'table') {
      process.stdout.write(structured(format, r));
      return 0;
    }
    process.stdout.write([
      `source:      ${r.source.workload} (${r.source.identity}, ${r.source.protocol})`,
      `destination: ${r.destination.workload}:${r.destination.port} (${r.destination.identity}, ${r.destination.protocol})`,
      `mTLS:        ${r.mtls ? 'yes' : 'no'} — ${r.why}`,
      `decision:    ${r.decision}`,
      `policy:      ${r.policy ?? '(none)'}`,
      `reason:      ${r.reason}`,
    ].join('\n') + '\n');
    return 0;
  });
}
