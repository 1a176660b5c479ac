// A long-running event source (`bridge monitor mdb`, `ip monitor link`) kept
// alive: restarted with backoff when it exits; `onRestart` lets the owner
// re-read what it may have missed meanwhile.
import { createBackoff } from '../core/backoff.ts';
import type { Host, LineProcess, Logger, TimerHandle } from '../host/host.ts';

export class LineMonitor {
  private proc: LineProcess | null = null;
  private timer: TimerHandle | null = null;
  private stopped = true;
  private readonly backoff = createBackoff({ initialMs: 500, maxMs: 30_000 });

  constructor(
    private readonly host: Host,
    private readonly log: Logger,
    /** The tool, for messages ("bridge", "ip"). */
    private readonly tool: string,
    private readonly argv: readonly string[],
    private readonly onLine: (line: string) => void,
    private readonly onRestart: () => void,
  ) {}

  start(): void {
    this.stopped = false;
    const startedAt = this.host.now();
    this.proc = this.host.spawnLines(this.argv, this.onLine, (code) => {
      this.proc = null;
      if (this.stopped) return;
      if (this.host.now() - startedAt > 60_000) this.backoff.reset();
      const retryMs = this.backoff.next();
      if (code === 127) this.log.error(`${this.tool} is not installed or not on PATH; retrying`, { command: this.argv.join(' '), retryMs });
      else this.log.warn(`${this.tool} monitor exited; restarting`, { code, retryMs });
      this.timer = this.host.setTimeout(() => {
        this.timer = null;
        this.start();
        this.onRestart();
      }, retryMs);
    });
  }

  stop(): void {
    this.stopped = true;
    this.proc?.kill();
    this.proc = null;
    if (this.timer) this.host.clearTimeout(this.timer);
    this.timer = null;
  }
}
