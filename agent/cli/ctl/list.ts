import { AdminCallError, getJson } from './client.js';
import { filterFlagSpecs, parseCtl } from './flags.js';
import { structured, table, type Column } from './output.js';

type Filter = keyof typeof filterFlagSpecs;

/** A listing subcommand: one admin endpoint, the filters it accepts, and its table's columns. */
export interface ListSpec<T> {
  readonly command: string;
  readonly path: string;
  readonly filters: readonly Filter[];
  readonly columns: readonly Column<T>[];
  /** Printed instead of an empty table. */
  readonly none: string;
}

export function filterUsage(filters: readonly Filter[]): string {
  const lines: Record<Filter, string> = {
    namespace: '  -n, --namespace NS   only this namespace',
    node: '  --node NODE          only workloads on this node',
    workload: '  --workload NAME      only this workload (Pod or WorkloadEntry name, or its controller\'s)',
  };
  return filters.map((f) => lines[f]).join('\n');
}

/** Runs a ctl request, turning an unreachable or refusing agent into one line and exit code 1. */
export async function reportingAdminErrors(command: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof AdminCallError)) throw err;
    process.stderr.write(`meshnode ${command}: ${err.message}\n`);
    return 1;
  }
}

export function listCommand<T>(spec: ListSpec<T>): (argv: string[]) => Promise<number> {
  const own = Object.fromEntries(spec.filters.map((f) => [f, filterFlagSpecs[f]]));
  return (argv) => {
    const { values, target, format } = parseCtl(argv, own);
    const query = Object.fromEntries(spec.filters.map((f) => [f, values[f] as string | undefined]));
    return reportingAdminErrors(spec.command, async () => {
      const rows = await getJson<T[]>(target, spec.path, query);
      process.stdout.write(format === 'table' ? table(rows, spec.columns, spec.none) : structured(format, rows));
      return 0;
    });
  };
}
