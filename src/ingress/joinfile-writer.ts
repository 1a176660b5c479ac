// Keeps the joinfile on disk equal to the ingress's joined set. Every write is
// atomic (a temp file in the same directory, fsync, rename), so a reader that
// reacts to inotify events (driad-ingest watches the directory) only ever
// opens a complete old or a complete new file. The file is also rewritten
// every refresh period while nothing changes, so an ingest manager can treat
// an old file as a dead ingress. Only temp files this writer names are ever
// removed from the directory. The file I/O is Node's (fsync, readdir: the
// ingress runs on Node); time and the process id come through the Host.
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { renderJoinfile } from './joinfile.ts';
import type { Channel } from '../core/channel.ts';
import type { Host, TimerHandle } from '../host/host.ts';
import { processRuns } from '../host/process-runs.ts';

const TEMP_TAG = 'mnat-ingress';

export interface JoinfileWriterOptions {
  readonly host: Host;
  readonly path: string;
  readonly refreshS: number;
}

export class JoinfileWriter {
  private readonly path: string;
  private readonly dir: string;
  private readonly temp: string;
  private readonly tempPattern: RegExp;
  private readonly host: Host;
  private content: string | null = null;
  private timer: TimerHandle | null = null;
  private writes = 0;

  constructor(private readonly options: JoinfileWriterOptions) {
    this.host = options.host;
    this.path = options.path;
    this.dir = dirname(options.path);
    const name = basename(options.path);
    this.temp = join(this.dir, `.${name}.${TEMP_TAG}.${this.host.pid ?? 0}.tmp`);
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
        // Ours from before, or a writer that is gone (no /proc entry: no such process here).
        if (m && (Number(m[1]) === this.host.pid || !processRuns(this.host, Number(m[1])))) {
          unlinkSync(join(this.dir, entry));
          this.host.log.info('removed a stale joinfile temp file', { file: join(this.dir, entry) });
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
    if (this.timer) this.host.clearTimeout(this.timer);
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
    if (this.timer) this.host.clearTimeout(this.timer);
    this.timer = this.host.setTimeout(() => {
      try {
        this.write(this.content ?? '');
      } catch (err) {
        this.host.log.error('joinfile refresh failed', { file: this.path, error: (err as Error).message });
        this.schedule();
      }
    }, this.options.refreshS * 1000);
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
