// A long-running event source (`bridge monitor mdb`, `ip monitor link`) kept
// alive: restarted with backoff when it exits; `onRestart` lets the owner
// re-read what it may have missed meanwhile.
import { createBackoff } from '../core/backoff.ts';
import type { Host, LineProcess, Logger, TimerHandle } from '../host/host.ts';

export interface LineMonitor {
  start(): void;
  stop(): void;
}

/** `tool` names the program in messages ("bridge", "ip"). */
export function createLineMonitor(
  host: Host,
  log: Logger,
  tool: string,
  argv: readonly string[],
  onLine: (line: string) => void,
  onRestart: () => void,
): LineMonitor {
  let proc: LineProcess | null = null;
  let timer: TimerHandle | null = null;
  let stopped = true;
  const backoff = createBackoff({ initialMs: 500, maxMs: 30_000 });
  const start = (): void => {
    stopped = false;
    const startedAt = host.now();
    proc = host.spawnLines(argv, onLine, (code) => {
      proc = null;
      if (stopped) return;
      if (host.now() - startedAt > 60_000) backoff.reset();
      const retryMs = backoff.next();
      if (code === 127) log.error(`${tool} is not installed or not on PATH; retrying`, { command: argv.join(' '), retryMs });
      else log.warn(`${tool} monitor exited; restarting`, { code, retryMs });
      timer = host.setTimeout(() => {
        timer = null;
        start();
        onRestart();
      }, retryMs);
    });
  };
  return {
    start,
    stop() {
      stopped = true;
      proc?.kill();
      proc = null;
      if (timer) host.clearTimeout(timer);
      timer = null;
    },
  };
}
