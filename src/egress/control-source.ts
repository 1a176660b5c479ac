// Membership input from a control file ("source,group" lines). Checked by
// modification time on a slow timer (one stat, no exec, no read when
// unchanged) and re-read at once on SIGHUP. A missing file means no joins.
import { parseControlFile } from '../core/control-file.ts';
import type { HeldChannel } from '../core/egress-membership.ts';
import type { Host, Logger, TimerHandle } from '../host/host.ts';

export interface ControlSourceOptions {
  readonly host: Host;
  readonly log: Logger;
  readonly path: string;
  readonly onChange: (channels: HeldChannel[]) => void;
  /** How often to stat the file (default 1000 ms). */
  readonly checkMs?: number;
}

export class ControlSource {
  private readonly opts: ControlSourceOptions;
  private timer: TimerHandle | null = null;
  private lastMtime: number | null | undefined = undefined;
  private lastText: string | null | undefined = undefined;
  private stopped = true;

  constructor(opts: ControlSourceOptions) {
    this.opts = opts;
  }

  get path(): string {
    return this.opts.path;
  }

  start(): void {
    this.stopped = false;
    this.check(true);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.opts.host.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Re-read now even if the mtime looks unchanged (SIGHUP; same-second edits). */
  reload(): void {
    if (!this.stopped) this.check(true);
  }

  private check(force: boolean): void {
    const { host, log, path } = this.opts;
    const mtime = host.fileMtimeMs(path);
    if (force || mtime !== this.lastMtime) {
      this.lastMtime = mtime;
      const text = mtime === null ? null : host.readFile(path);
      if (text !== this.lastText) {
        const first = this.lastText === undefined;
        this.lastText = text;
        if (text === null) {
          if (!first) log.warn('control file is gone; its joins are dropped', { file: path });
          else log.warn('control file does not exist (yet); no joins from it', { file: path });
          this.opts.onChange([]);
        } else {
          const parsed = parseControlFile(text, path);
          for (const p of parsed.problems) log.warn(p.message);
          log.info('control file read', { file: path, channels: parsed.channels.length, skipped: parsed.problems.length });
          this.opts.onChange(
            parsed.channels.map((channel) => ({
              channel,
              holders: (parsed.lines.get(`${channel.source},${channel.group}`) ?? []).map((n) => `line ${n}`),
            })),
          );
        }
      }
    }
    if (this.stopped) return;
    if (this.timer) host.clearTimeout(this.timer);
    this.timer = host.setTimeout(() => {
      this.timer = null;
      this.check(false);
    }, this.opts.checkMs ?? 1000);
  }
}
