/**
 * Structured logging: one JSON object per line on stderr, with a fixed set of top-level keys
 * (`time`, `level`, `component`, `msg`) followed by the event's own fields. Components get a child
 * logger so every line says where it came from. `MESHNODE_LOG` sets the level (debug, info,
 * warn, error; default info); `MESHNODE_LOG_FORMAT=text` prints a human-oriented line instead.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string, fields?: LogFields): Logger;
  enabled(level: LogLevel): boolean;
}

export type LogSink = (line: string) => void;

interface LoggerState {
  level: LogLevel;
  text: boolean;
  sink: LogSink;
}

const state: LoggerState = {
  level: parseLevel(process.env.MESHNODE_LOG) ?? 'info',
  text: process.env.MESHNODE_LOG_FORMAT === 'text',
  sink: (line) => process.stderr.write(line + '\n'),
};

function parseLevel(value: string | undefined): LogLevel | undefined {
  return value !== undefined && value in ORDER ? (value as LogLevel) : undefined;
}

/** Changes the process-wide level at run time (admin `/logging`). Returns false for an unknown level. */
export function setLogLevel(level: string): boolean {
  const parsed = parseLevel(level);
  if (parsed === undefined) return false;
  state.level = parsed;
  return true;
}

export function getLogLevel(): LogLevel {
  return state.level;
}

/** Redirects all log lines (tests capture them; the CLI keeps stderr). */
export function setLogSink(sink: LogSink): void {
  state.sink = sink;
}

function errorFields(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? value.message : `${String(code)}: ${value.message}`;
  }
  return value;
}

function format(level: LogLevel, component: string, msg: string, fields: LogFields): string {
  const time = new Date().toISOString();
  if (state.text) {
    const rest = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(errorFields(v))}`)
      .join(' ');
    return `${time} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}${rest ? ' ' + rest : ''}`;
  }
  const record: LogFields = { time, level, component, msg };
  for (const [k, v] of Object.entries(fields)) record[k] = errorFields(v);
  return JSON.stringify(record);
}

export function createLogger(component: string, base: LogFields = {}): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < ORDER[state.level]) return;
    state.sink(format(level, component, msg, fields ? { ...base, ...fields } : base));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (name, fields) => createLogger(`${component}.${name}`, { ...base, ...fields }),
    enabled: (level) => ORDER[level] >= ORDER[state.level],
  };
}
