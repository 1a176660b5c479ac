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
  return loggerOf((level, message, fields) => {
    if (logLevelRank(level) < logLevelRank(minLevel)) return;
    write(formatLogLine(new Date().toISOString(), component, level, message, fields) + '\n');
  });
}

/** A Logger whose four methods are one function of the level. */
export function loggerOf(log: (level: LogLevel, message: string, fields?: LogFields) => void): Logger {
  return Object.fromEntries(LOG_LEVELS.map((level) => [level, (message: string, fields?: LogFields) => log(level, message, fields)])) as unknown as Logger;
}
