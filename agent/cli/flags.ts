import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.js';
import { closest } from './suggest.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict flag parsing for every subcommand: an unknown flag, a missing value or a stray positional
 * argument is a UsageError naming it, never silently ignored.
 */
export function parseFlags<O extends Options>(argv: string[], options: O) {
  return parseCommandLine(argv, options, []).values;
}

/**
 * As parseFlags, for a command that also takes positional arguments: exactly `names.length` of
 * them (a missing one is named in the error), returned in order.
 */
export function parseCommandLine<O extends Options>(argv: string[], options: O, names: readonly string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: names.length > 0 });
  } catch (err) {
    throw new UsageError(flagError(err as Error & { code?: string }, options));
  }
  const missing = names.slice(parsed.positionals.length);
  if (missing.length > 0) throw new UsageError(`missing ${missing.join(' ')}`);
  if (parsed.positionals.length > names.length) throw new UsageError(`unexpected argument "${parsed.positionals[names.length]}"`);
  return parsed;
}

/** Node's parse error, with the flag the user probably meant when one is a near miss. */
function flagError(err: Error & { code?: string }, options: Options): string {
  const unknown = err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(-[^']*)'/.exec(err.message)?.[1] : undefined;
  if (unknown === undefined) return err.message.replace(/^TypeError \[[A-Z_]+\]: /, '');
  const guess = unknown.startsWith('--') ? closest(unknown.slice(2).split('=')[0]!, Object.keys(options)) : undefined;
  return `unknown flag ${unknown}${guess ? ` (did you mean --${guess}?)` : ''}`;
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing required flag --${flag}`);
  return value;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses Go-style durations (`90s`, `24h`, `1h30m`, `90d`, `500ms`) into milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (text === '' || consumed !== text.length || total <= 0) {
    throw new UsageError(`--${flag}: "${text}" is not a positive duration (examples: 500ms, 30s, 24h, 90d)`);
  }
  return total;
}

/** Parses `HOST:PORT` or `[V6]:PORT`. */
export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--${flag}: "${text}" is not HOST:PORT`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export function parsePort(text: string, flag: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UsageError(`--${flag}: "${text}" is not a port number (1-65535)`);
  }
  return Number(text);
}

/** SPIFFE trust domain: lower-case letters, digits, ".", "-" and "_", at most 255 characters. */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

export function parseTrustDomain(text: string, flag: string): string {
  if (!TRUST_DOMAIN.test(text)) {
    throw new UsageError(`--${flag}: ${JSON.stringify(text)} is not a valid trust domain (1-255 lower-case letters, digits, ".", "-", "_")`);
  }
  return text;
}

/** A whole number in [min, max]; anything else (`2.5`, `0x2`, ` 3`) names the flag and the range. */
export function parseCount(text: string, flag: string, min: number, max: number): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}
