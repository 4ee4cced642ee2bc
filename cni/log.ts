import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createLogger, setLogLevel, setLogSink, type Logger } from '../agent/telemetry/log.js';

/**
 * Diagnostics go to the configured log file (JSON lines), or to stderr, which runtimes keep in
 * their own logs. Never to stdout: that is the CNI result. A log file that cannot be written
 * falls back to stderr rather than failing the pod.
 */
export function pluginLogger(logFile: string | undefined, level: string, fields: Record<string, unknown>): Logger {
  setLogLevel(level);
  if (logFile) {
    setLogSink((line) => {
      try {
        appendFileSync(logFile, line + '\n');
      } catch {
        try {
          mkdirSync(dirname(logFile), { recursive: true });
          appendFileSync(logFile, line + '\n');
        } catch {
          process.stderr.write(line + '\n');
        }
      }
    });
  }
  return createLogger('meshnode-cni', fields);
}
