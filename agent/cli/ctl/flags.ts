import { parseCommandLine } from '../flags.js';
import { adminTarget, DEFAULT_ADMIN, type AdminTarget } from './client.js';
import { outputFormat, type OutputFormat } from './output.js';

/** The flags every `meshnode ctl` subcommand takes. */
export const ctlFlagSpecs = {
  admin: { type: 'string', default: DEFAULT_ADMIN },
  output: { type: 'string', short: 'o', default: 'table' },
} as const;

export const ctlFlagsUsage = `  --admin HOST:PORT    the agent's admin API (default ${DEFAULT_ADMIN})
  -o, --output FORMAT  table (default), json or yaml`;

export const filterFlagSpecs = {
  namespace: { type: 'string', short: 'n' },
  node: { type: 'string' },
  workload: { type: 'string' },
} as const;

type Specs = Parameters<typeof parseCommandLine>[1];

/** Parses a ctl command line: the shared flags, the command's own, and its positional arguments. */
export function parseCtl<O extends Specs>(argv: string[], own: O, positionals: readonly string[] = []) {
  const parsed = parseCommandLine(argv, { ...ctlFlagSpecs, ...own }, positionals);
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const target: AdminTarget = adminTarget(values.admin as string);
  const format: OutputFormat = outputFormat(values.output as string);
  return { values: parsed.values, positionals: parsed.positionals, target, format };
}
