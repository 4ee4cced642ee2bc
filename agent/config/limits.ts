import { formatCount } from '../base/text.js';

/**
 * Bounds on one mesh config load, chosen so that a config at every limit at once still parses
 * inside the agent's memory budget (docs/reliability.md, "Limits"): the DaemonSet allows 512 MiB,
 * the data plane peaks near 160 MB under load, and the last good snapshot stays in memory while a
 * new one is read, so a load may peak at about 256 MB RSS. The YAML library's concrete syntax
 * tree costs about 300 bytes per token while a document is composed, and what survives the parse
 * about 40 bytes per token, so tokens, not bytes, are what the limits mostly count. A config over
 * any limit is an error naming it: the whole config is rejected, never cut short and applied.
 */
export const CONFIG_LIMITS = {
  /** All files of one config together (a directory's files are summed). */
  bytes: 32 * 1024 * 1024,
  /** Files read from a config directory. */
  files: 1_000,
  /** YAML documents, counting each item of a `kind: List` as one. */
  documents: 50_000,
  /** YAML tokens (scalars, indicators, white space) in all files: ~190 for a small Pod. */
  tokens: 2_000_000,
  /** Tokens in one document: its whole syntax tree is in memory at once (a big `kind: List`). */
  tokensPerDocument: 300_000,
  /** One scalar, comment or run of white space; Kubernetes caps all annotations at 256 KiB. */
  scalarChars: 256 * 1024,
  /** Reading every file of a config; a read that takes longer fails the load. */
  readTimeoutMs: 10_000,
} as const;

export type ConfigLimit = keyof typeof CONFIG_LIMITS;

/** `32 MiB`, `50,000` or `10 s`: a limit as the error message and the docs state it. */
export function describeLimit(limit: ConfigLimit): string {
  const value = CONFIG_LIMITS[limit];
  if (limit === 'bytes' || limit === 'scalarChars') {
    return value >= 1024 * 1024 ? `${value / 1024 / 1024} MiB` : `${value / 1024} KiB`;
  }
  if (limit === 'readTimeoutMs') return `${value / 1000} s`;
  return formatCount(value);
}
