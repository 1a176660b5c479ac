// Keeps the joinfile on disk equal to the ingress's joined set. Every write is
// atomic (a temp file in the same directory, fsync, rename), so a reader that
// reacts to inotify events (driad-ingest watches the directory) only ever
// opens a complete old or a complete new file. The file is also rewritten
// every refresh period while nothing changes, so an ingest manager can treat
// an old file as a dead ingress. Only temp files this writer names are ever
// removed from the directory.
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { renderJoinfile } from './joinfile.ts';
import type { Channel } from '../core/channel.ts';
import type { Logger } from '../host/host.ts';

const TEMP_TAG = 'mnat-ingress';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface JoinfileWriterOptions {
  readonly path: string;
  readonly refreshS: number;
  readonly log: Logger;
}

export class JoinfileWriter {
  private readonly path: string;
  private readonly dir: string;
  private readonly temp: string;
  private readonly tempPattern: RegExp;
  private content: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private writes = 0;

  constructor(private readonly options: JoinfileWriterOptions) {
    this.path = options.path;
    this.dir = dirname(options.path);
    const name = basename(options.path);
    this.temp = join(this.dir, `.${name}.${TEMP_TAG}.${process.pid}.tmp`);
    const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.tempPattern = new RegExp(`^\\.${escaped}\\.${TEMP_TAG}\\.(\\d+)\\.tmp$`);
  }

  /** How many times the file was written (for tests and status). */
  get writeCount(): number {
    return this.writes;
  }

  /** Removes temp files a crashed earlier ingress left for this joinfile, then starts the refresh timer. */
  start(): void {
    try {
      for (const entry of readdirSync(this.dir)) {
        const m = this.tempPattern.exec(entry);
        if (m && (Number(m[1]) === process.pid || !pidAlive(Number(m[1])))) {
          unlinkSync(join(this.dir, entry));
          this.options.log.info('removed a stale joinfile temp file', { file: join(this.dir, entry) });
        }
      }
    } catch (err) {
      throw new Error(`joinfile directory ${this.dir}: ${(err as Error).message}`);
    }
    this.schedule();
  }

  /** Sets the joined set; writes only when the bytes change (the refresh timer covers the rest). */
  update(channels: Iterable<Channel>): boolean {
    const text = renderJoinfile(channels);
    if (text === this.content) return false;
    this.write(text);
    return true;
  }

  /** Writes the file empty (nothing joined) and stops refreshing. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      this.write('');
    } finally {
      try {
        unlinkSync(this.temp);
      } catch {
        // not there: the normal case
      }
    }
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      try {
        this.write(this.content ?? '');
      } catch (err) {
        this.options.log.error('joinfile refresh failed', { file: this.path, error: (err as Error).message });
        this.schedule();
      }
    }, this.options.refreshS * 1000);
    this.timer.unref();
  }

  private write(text: string): void {
    const fd = openSync(this.temp, 'w', 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(this.temp, this.path);
    } catch (err) {
      try {
        unlinkSync(this.temp);
      } catch {
        // best effort
      }
      throw new Error(`cannot replace joinfile ${this.path}: ${(err as Error).message}`);
    }
    this.content = text;
    this.writes++;
    this.schedule();
  }
}
