import { compareText } from '../base/text.js';

/**
 * Structured logging: one JSON object per line on stderr, with a fixed set of top-level keys
 * (`time`, `level`, `component`, `msg`) followed by the event's own fields. Components get a child
 * logger so every line says where it came from. `MESHNODE_LOG` sets the level (debug, info,
 * warn, error; default info), and the admin API sets levels per component at run time;
 * `MESHNODE_LOG_FORMAT=text` prints a human-oriented line instead.
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
  /** The level of every component without a directive of its own. */
  level: LogLevel;
  /** Per-component directives (`proxy=debug`), set at run time through the admin API. */
  readonly directives: Map<string, LogLevel>;
  /** Effective level per component name, dropped whenever a level changes. */
  readonly effective: Map<string, LogLevel>;
  /** Every component that has a logger, so operators can see what they can tune. */
  readonly components: Set<string>;
  text: boolean;
  sink: LogSink;
  /** Fields every line of this thread carries (a data-plane worker says which it is). */
  thread: LogFields;
}

const state: LoggerState = {
  level: parseLevel(process.env.MESHNODE_LOG) ?? 'info',
  directives: new Map(),
  effective: new Map(),
  components: new Set(),
  text: process.env.MESHNODE_LOG_FORMAT === 'text',
  sink: (line) => process.stderr.write(line + '\n'),
  thread: {},
};

function parseLevel(value: string | undefined): LogLevel | undefined {
  return value !== undefined && value in ORDER ? (value as LogLevel) : undefined;
}

export function isLogLevel(value: string): value is LogLevel {
  return parseLevel(value) !== undefined;
}

/** What a level change must reach besides this thread: the data-plane worker threads. */
const levelObservers = new Set<(levels: LevelSettings) => void>();

/** The default level and the component directives: everything that decides what is logged. */
export interface LevelSettings {
  readonly level: LogLevel;
  readonly directives: Readonly<Record<string, LogLevel>>;
}

function levelsChanged(): void {
  state.effective.clear();
  if (levelObservers.size === 0) return;
  const settings = levelSettings();
  for (const observer of levelObservers) observer(settings);
}

export function levelSettings(): LevelSettings {
  return { level: state.level, directives: Object.fromEntries(state.directives) };
}

/** Calls `observer` after every level change made in this thread; returns the unsubscribe. */
export function observeLogLevels(observer: (levels: LevelSettings) => void): () => void {
  levelObservers.add(observer);
  return () => levelObservers.delete(observer);
}

/** Takes over the settings of another thread (a worker follows the main thread's). */
export function applyLevelSettings(settings: LevelSettings): void {
  state.level = settings.level;
  state.directives.clear();
  for (const [component, level] of Object.entries(settings.directives)) state.directives.set(component, level);
  levelsChanged();
}

/** Changes the process-wide level at run time (admin `/logging`). Returns false for an unknown level. */
export function setLogLevel(level: string): boolean {
  const parsed = parseLevel(level);
  if (parsed === undefined) return false;
  state.level = parsed;
  levelsChanged();
  return true;
}

export function getLogLevel(): LogLevel {
  return state.level;
}

/**
 * Sets the level of one component and everything under it: `proxy` covers `agent.proxy` and
 * `agent.proxy.pod`, `access` the access log. The most specific directive wins.
 */
export function setComponentLevel(component: string, level: LogLevel): void {
  state.directives.set(component, level);
  levelsChanged();
}

/** Drops every component directive and sets the default level (unchanged when omitted). */
export function resetLogLevels(level?: LogLevel): void {
  state.directives.clear();
  if (level !== undefined) state.level = level;
  levelsChanged();
}

export interface LogLevels {
  readonly level: LogLevel;
  readonly directives: Readonly<Record<string, LogLevel>>;
  /** Every component with a logger, and the level it logs at now. */
  readonly components: Readonly<Record<string, LogLevel>>;
}

export function logLevels(): LogLevels {
  const sorted = <T>(entries: Iterable<[string, T]>) => Object.fromEntries([...entries].sort(([a], [b]) => compareText(a, b)));
  return {
    level: state.level,
    directives: sorted(state.directives),
    components: sorted([...state.components].map((c): [string, LogLevel] => [c, levelOf(c)])),
  };
}

/** Whether directive `d` names `component` or one of its dotted parts (`proxy` in `agent.proxy.pod`). */
function covers(d: string, component: string): boolean {
  return component === d || component.startsWith(`${d}.`) || component.endsWith(`.${d}`) || component.includes(`.${d}.`);
}

function levelOf(component: string): LogLevel {
  const known = state.effective.get(component);
  if (known !== undefined) return known;
  let best: string | undefined;
  for (const d of state.directives.keys()) if (covers(d, component) && (best === undefined || d.length > best.length)) best = d;
  const level = best === undefined ? state.level : state.directives.get(best)!;
  state.effective.set(component, level);
  return level;
}

/** Fields added to every line this thread logs, after the fixed keys. */
export function setThreadLogFields(fields: LogFields): void {
  state.thread = fields;
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
    const rest = Object.entries({ ...state.thread, ...fields })
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(errorFields(v))}`)
      .join(' ');
    return `${time} ${level.toUpperCase().padEnd(5)} ${component}: ${msg}${rest ? ' ' + rest : ''}`;
  }
  const record: LogFields = { time, level, component, msg, ...state.thread };
  for (const [k, v] of Object.entries(fields)) record[k] = errorFields(v);
  return JSON.stringify(record);
}

export function createLogger(component: string, base: LogFields = {}): Logger {
  state.components.add(component);
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < ORDER[levelOf(component)]) return;
    state.sink(format(level, component, msg, fields ? { ...base, ...fields } : base));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (name, fields) => createLogger(`${component}.${name}`, { ...base, ...fields }),
    enabled: (level) => ORDER[level] >= ORDER[levelOf(component)],
  };
}
