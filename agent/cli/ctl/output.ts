import { stringify } from 'yaml';
import { UsageError } from '../usage-error.js';

/** `-o table|json|yaml`: what `meshnode ctl` prints. */
export type OutputFormat = 'table' | 'json' | 'yaml';

export function outputFormat(text: string): OutputFormat {
  if (text === 'table' || text === 'json' || text === 'yaml') return text;
  throw new UsageError(`-o: "${text}" is not table, json or yaml`);
}

/** The data as JSON or YAML, exactly as the admin API gave it. */
export function structured(format: 'json' | 'yaml', data: unknown): string {
  return format === 'json' ? JSON.stringify(data, null, 2) + '\n' : stringify(data);
}

export type Column<T> = readonly [header: string, cell: (row: T) => string];

/** Aligned columns with upper-case headers, as kubectl and istioctl print them. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], none: string): string {
  if (rows.length === 0) return `${none}\n`;
  const cells = [columns.map(([h]) => h), ...rows.map((r) => columns.map(([, cell]) => cell(r) || '-'))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((c, i) => (i === line.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** "3m12s"-style age, as kubectl prints it. */
export function age(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
