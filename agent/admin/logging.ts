import { isLogLevel, logLevels, resetLogLevels, setComponentLevel, setLogLevel, type LogLevel, type Logger } from '../telemetry/log.js';
import { AdminRequestError } from './errors.js';

/**
 * `/logging`. GET answers the levels as JSON: the default, the per-component directives and the
 * level every known component logs at. POST changes them: `?level=debug` sets the default,
 * `?level=proxy=debug,access=warn` sets components (comma-separated; both kinds may mix),
 * `?reset` drops every directive first (with `level`, also sets the default). The reply to a
 * POST is ztunnel's text line, `current log level is ...`. A bad directive changes nothing.
 */
export function currentLevels(): string {
  const { level, directives } = logLevels();
  const extra = Object.entries(directives).map(([c, l]) => `${c}=${l}`);
  return `current log level is ${[level, ...extra].join(',')}\n`;
}

export function changeLevels(url: URL, log: Logger): string {
  const spec = url.searchParams.get('level');
  const parsed: { component?: string; level: LogLevel }[] = [];
  for (const part of spec === null ? [] : spec.split(',')) {
    const [component, level] = part.includes('=') ? part.split('=', 2) as [string, string] : [undefined, part];
    if (!isLogLevel(level)) throw new AdminRequestError(`invalid level "${level}" in "${part}"; use debug, info, warn or error`);
    if (component !== undefined && !/^[A-Za-z0-9_.-]+$/.test(component)) throw new AdminRequestError(`invalid component "${component}" in "${part}"`);
    parsed.push({ ...(component !== undefined ? { component } : {}), level });
  }
  if (url.searchParams.has('reset')) resetLogLevels();
  for (const p of parsed) {
    if (p.component === undefined) setLogLevel(p.level);
    else setComponentLevel(p.component, p.level);
  }
  if (parsed.length > 0 || url.searchParams.has('reset')) log.info('log levels changed', { ...logLevels().directives, default: logLevels().level });
  return currentLevels();
}
