// One structured log line in logfmt ("level=info msg=… key=value"), the same
// on Node and QuickJS so operators can grep and parse either.
import type { LogFields, Logger, LogLevel } from './host.ts';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function logLevelRank(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

export function parseLogLevel(text: string): LogLevel | null {
  return (LOG_LEVELS as readonly string[]).includes(text) ? (text as LogLevel) : null;
}

function quote(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

export function formatLogLine(
  timeIso: string,
  component: string,
  level: LogLevel,
  message: string,
  fields?: LogFields,
): string {
  let line = `ts=${timeIso} level=${level} component=${component} msg=${quote(message)}`;
  if (fields) {
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (value === undefined) continue;
      line += ` ${key}=${quote(String(value))}`;
    }
  }
  return line;
}

/**
 * A Logger that drops lines below minLevel and hands each other one, formatted
 * and newline-terminated, to write: the hosts differ only in where it goes.
 */
export function createLineLogger(component: string, minLevel: LogLevel, write: (text: string) => void): Logger {
  const log = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (logLevelRank(level) < logLevelRank(minLevel)) return;
    write(formatLogLine(new Date().toISOString(), component, level, message, fields) + '\n');
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}
