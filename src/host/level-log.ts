// A logger whose threshold can change at run time (SIGHUP may change the log
// level); it filters in front of the host's logger, which is built at debug.
import { loggerOf, logLevelRank } from './log-format.ts';
import type { Logger, LogLevel } from './host.ts';

export interface LevelLogger extends Logger {
  setLevel(level: LogLevel): void;
  readonly level: LogLevel;
}

export function createLevelLogger(inner: Logger, level: LogLevel): LevelLogger {
  let min = logLevelRank(level);
  let current = level;
  return {
    ...loggerOf((l, m, f) => {
      if (logLevelRank(l) >= min) inner[l](m, f);
    }),
    setLevel(l) {
      current = l;
      min = logLevelRank(l);
    },
    get level() {
      return current;
    },
  };
}
