// One structured log line in logfmt ("level=info msg=… key=value"), the same
// on Node and QuickJS so operators can grep and parse either.
import type { LogFields, LogLevel } from '../host/host.ts';

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
