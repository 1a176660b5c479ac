// Membership input from a control file ("source,group" lines). Checked by
// modification time on a slow timer (one stat, no exec, no read when
// unchanged) and re-read at once on SIGHUP. A missing file means no joins.
import { parseControlFile } from './control-file.ts';
import { channelKey } from '../../core/channel.ts';
import type { HeldChannel } from './membership-table.ts';
import type { Host, Logger, TimerHandle } from '../../host/host.ts';


export interface ControlSource {
  start(): void;
  stop(): void;
  /** Re-read now even if the mtime looks unchanged (SIGHUP; same-second edits). */
  reload(): void;
}

/** Reports the file's channels to onChange whenever they change; stats the file every checkMs. */
export function createControlSource(host: Host, log: Logger, path: string, onChange: (channels: HeldChannel[]) => void, checkMs = 1000): ControlSource {
  let timer: TimerHandle | null = null;
  let lastMtime: number | null | undefined;
  let lastText: string | null | undefined;
  let stopped = true;

  const check = (force: boolean): void => {
    const mtime = host.fileMtimeMs(path);
    if (force || mtime !== lastMtime) {
      lastMtime = mtime;
      const text = mtime === null ? null : host.readFile(path);
      if (text !== lastText) {
        const first = lastText === undefined;
        lastText = text;
        if (text === null) {
          log.warn(first ? 'control file does not exist (yet); no joins from it' : 'control file is gone; its joins are dropped', { file: path });
          onChange([]);
        } else {
          const parsed = parseControlFile(text, path);
          for (const p of parsed.problems) log.warn(p.message);
          log.info('control file read', { file: path, channels: parsed.channels.length, skipped: parsed.problems.length });
          onChange(
            parsed.channels.map((channel) => ({
              channel,
              holders: (parsed.lines.get(channelKey(channel)) ?? []).map((n) => `line ${n}`),
            })),
          );
        }
      }
    }
    if (stopped) return;
    if (timer) host.clearTimeout(timer);
    timer = host.setTimeout(() => {
      timer = null;
      check(false);
    }, checkMs);
  };

  return {
    start() {
      stopped = false;
      check(true);
    },
    stop() {
      stopped = true;
      if (timer) host.clearTimeout(timer);
      timer = null;
    },
    reload() {
      if (!stopped) check(true);
    },
  };
}
