// A logger whose threshold can change at run time (SIGHUP may change the log
// level); it filters in front of the host's logger, which is built at debug.
import { logLevelRank } from './log-format.ts';
import type { LogFields, Logger, LogLevel } from './host.ts';

export interface LevelLogger extends Logger {
  setLevel(level: LogLevel): void;
  readonly level: LogLevel;
}

export function createLevelLogger(inner: Logger, level: LogLevel): LevelLogger {
  let min = logLevelRank(level);
  let current = level;
  const at = (l: LogLevel, m: string, f?: LogFields): void => {
    if (logLevelRank(l) >= min) inner[l](m, f);
  };
  return {
    debug: (m, f) => at('debug', m, f),
    info: (m, f) => at('info', m, f),
    warn: (m, f) => at('warn', m, f),
    error: (m, f) => at('error', m, f),
    setLevel(l) {
      current = l;
      min = logLevelRank(l);
    },
    get level() {
      return current;
    },
  };
}
