// Durable state for mnat-server: a snapshot plus an append-only journal of
// state-change records, group-committed (many records, one fdatasync) so a
// reply can wait for durability without serialising the server on the disk.
// The files are described in journal-format.ts.
//
// Failure: when a group commit cannot be written or synced (a full disk, an
// I/O error), the journal cuts the file back to its last durable byte, every
// record not yet durable is dropped and every waiter rejected, and the
// journal refuses further writes until recover() (after a probe found the
// disk writable again). onFailure tells the owner, which goes back to the
// durable state. If even the cut fails, the disk state is unknown: onFatal.
//
// Compaction never stops the event loop: between two group commits the live
// journal is closed (renamed to journal.closed.log) and a new one started,
// with async file operations; then `fold` (a worker thread, compaction.ts)
// reads the snapshot and the closed journal from disk and writes the next
// snapshot. Under continuous writes the rotation still happens at the next
// commit boundary.
//
// Recovery rules: a bad region that runs to the end of the journal is a torn
// tail (a write the process died in); it was never acknowledged, so it is cut
// off and reported with its byte offset. A bad record followed by a good one,
// or a snapshot that fails its checksum, is corruption: refuse to start.
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { fdatasync, write } from 'node:fs';
import { open as openAsync, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../host/host.ts';
import { makeDirectories } from '../../host/make-directories.ts';
import { CLOSED_JOURNAL, frame, JOURNAL, PROBE, readDurableFiles, replaceFile, TEMP_FILES, writeFully } from './journal-format.ts';

export { scanJournal, StateCorruptError } from './journal-format.ts';

export interface LoadedState<S, R> {
  snapshot: S | null;
  /** The closed journal's records (if any), then the live journal's. */
  records: R[];
  generation: number;
  /** Set when a torn tail was cut off. */
  truncatedAt?: { offset: number; bytes: number };
}

/** Folds the closed journal of `generation` and the snapshot into snapshot generation+1 (compaction.ts). */
export type Fold = (dir: string, generation: number) => Promise<void>;

export interface JournalOptions {
  dir: string;
  log: Logger;
  /** Start a compaction when the live journal grows past this many bytes (default 16 MiB). */
  compactBytes?: number;
  /** Writes the next snapshot; without it the journal is never compacted. */
  fold?: Fold;
  /** Delay before a failed compaction is tried again (default 30 s). */
  foldRetryMs?: number;
}

/** A write or fsync of the journal failed; `code` is the system error code (ENOSPC, EIO…). */
export class JournalWriteError extends Error {
  override name = 'JournalWriteError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const PROBE_BYTES = 64 * 1024;

interface Waiter {
  /** Resolved once this many records are durable. */
  upTo: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'EIO';
}

/**
 * mkdir -p that ends: Node's recursive mkdirSync spins for ever where a parent
 * exists but mkdir answers ENOENT (/proc, /sys). Throws mkdir's own error, so
 * its code (EACCES, ENOSPC…) still decides what load() does.
 */
function makeStateDirectory(dir: string): void {
  makeDirectories(dir, (path) => {
    try {
      mkdirSync(path);
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') throw err;
    }
    return null;
  });
}

export class Journal<S = unknown, R = unknown> {
  private fd = -1;
  /** Generation of the live journal's header. */
  private generation = 0;
  private pending: Buffer[] = [];
  /** Records appended, and of those the ones on disk (counts since start). */
  private appended = 0;
  private durable = 0;
  /** sync() callers, in order of the record count they wait for. */
  private waiters: Waiter[] = [];
  /** A group commit (or a rotation) is in progress. */
  private busy = false;
  private failed: JournalWriteError | null = null;
  /** Bytes of the live journal known to be on disk. */
  private bytes = 0;
  /** A closed journal waits to be folded into the next snapshot. */
  private closedExists = false;
  private foldTimer: ReturnType<typeof setTimeout> | null = null;
  private foldRun: Promise<void> | null = null;
  private rotateBackoff: ReturnType<typeof setTimeout> | null = null;
  private closing = false;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly fold: Fold | undefined;
  private readonly foldRetryMs: number;
  readonly compactBytes: number;
  /** A group commit failed (the journal was cut back to its durable end). */
  onFailure: ((err: JournalWriteError) => void) | null = null;
  /** The journal could not even be cut back: what is on disk is unknown. */
  onFatal: ((err: Error) => void) | null = null;
  /** Counters for /metrics. */
  readonly stats = { records: 0, fsyncs: 0, compactions: 0, compactionFailures: 0, writeFailures: 0, bytesWritten: 0, snapshotGeneration: 0 };

  constructor(options: JournalOptions) {
    this.dir = options.dir;
    this.log = options.log;
    this.compactBytes = options.compactBytes ?? 16 * 1024 * 1024;
    this.fold = options.fold;
    this.foldRetryMs = options.foldRetryMs ?? 30_000;
  }

  get journalBytes(): number {
    return this.bytes;
  }

  /** Why the journal refuses writes, or null. */
  get failure(): JournalWriteError | null {
    return this.failed;
  }

  get liveGeneration(): number {
    return this.generation;
  }

  /**
   * Reads the snapshot and the journals, cuts a torn tail, removes temp and
   * stale files, and opens the live journal for appending (throws
   * StateCorruptError on corruption). A full disk does not stop it: the
   * journal then starts failed (read-only) and recover() retries.
   */
  load(): LoadedState<S, R> {
    // A configuration error, not a disk that may take writes again later.
    if (existsSync(this.dir) && !statSync(this.dir).isDirectory()) throw new Error('exists and is not a directory');
    try {
      if (!existsSync(this.dir)) makeStateDirectory(this.dir);
    } catch (err) {
      if (codeOf(err) === 'EACCES') throw err;
      this.markFailed(err, 'creating the state directory');
      return { snapshot: null, records: [], generation: 0 };
    }
    for (const name of TEMP_FILES) {
      try {
        unlinkSync(join(this.dir, name));
        this.log.warn('removed a temp file an interrupted write left behind', { file: join(this.dir, name) });
      } catch {
        // not there
      }
    }
    const files = readDurableFiles<S, R>(this.dir);
    this.stats.snapshotGeneration = files.snapshotGeneration;
    if (files.closedStale) {
      this.log.info('removing a journal already folded into the snapshot (compaction was interrupted)', { file: join(this.dir, CLOSED_JOURNAL) });
      unlinkSync(join(this.dir, CLOSED_JOURNAL));
    }
    if (files.liveStale) this.log.info('journal predates the snapshot (compaction was interrupted); ignoring it', { file: join(this.dir, JOURNAL) });
    let truncatedAt: LoadedState<S, R>['truncatedAt'];
    const live = files.live;
    const path = join(this.dir, JOURNAL);
    if (live && live.goodEnd < live.size) {
      truncatedAt = { offset: live.goodEnd, bytes: live.size - live.goodEnd };
      this.log.warn('journal has a torn tail (an unacknowledged write cut short by a crash); truncating it', { file: path, offset: live.goodEnd, bytes: truncatedAt.bytes });
      truncateSync(path, live.goodEnd);
    }
    this.generation = files.liveGeneration;
    this.closedExists = files.closed !== null;
    if (live) {
      this.fd = openSync(path, 'a');
      this.bytes = live.goodEnd;
    } else {
      try {
        this.resetJournal();
      } catch (err) {
        this.markFailed(err, 'starting a journal');
      }
    }
    const records = [...(files.closed?.records ?? []), ...(live?.records ?? [])];
    if (this.closedExists) this.scheduleFold(0);
    return { snapshot: files.snapshot, records, generation: files.snapshotGeneration, truncatedAt };
  }

  /** Replaces the live journal with an empty one (synchronous: start-up and recovery only). */
  private resetJournal(): void {
    const path = join(this.dir, JOURNAL);
    const header = frame(JSON.stringify({ generation: this.generation }));
    replaceFile(this.dir, path, header);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = openSync(path, 'a');
    this.bytes = header.length;
  }

  /** Queues one record; it is durable once a later sync() resolves. Dropped while the journal is failed. */
  append(record: R): void {
    if (this.failed) return;
    this.pending.push(frame(JSON.stringify(record)));
    this.appended++;
    this.stats.records++;
  }

  /**
   * Resolves when every record appended so far is on disk (group commit);
   * rejects with JournalWriteError when one of them cannot be written. A
   * waiter is tied to the records before it, not to "the next commit": a
   * commit that fails never refuses a change an earlier commit made durable.
   */
  sync(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const upTo = this.appended;
    if (upTo <= this.durable) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo, resolve, reject });
      if (!this.busy) this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0) {
      this.busy = false;
      return;
    }
    if (this.wantsRotation()) {
      void this.rotate();
      return;
    }
    this.busy = true;
    const batch = this.pending;
    const batchEnd = this.appended;
    this.pending = [];
    const data = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch);
    const done = (err: Error | null): void => {
      if (err) return this.fail(err);
      this.stats.fsyncs++;
      this.stats.bytesWritten += data.length;
      this.bytes += data.length;
      this.durable = batchEnd;
      let n = 0;
      while (n < this.waiters.length && (this.waiters[n] as Waiter).upTo <= batchEnd) n++;
      const ready = this.waiters.splice(0, n);
      for (const w of ready) w.resolve();
      this.flush();
    };
    const writeAll = (offset: number): void => {
      if (offset >= data.length) {
        fdatasync(this.fd, (err) => done(err));
        return;
      }
      write(this.fd, data, offset, data.length - offset, null, (err, n) => {
        if (err) done(err);
        else writeAll(offset + n);
      });
    };
    writeAll(0);
  }

  /** A group commit failed: cut the file back to its durable end, drop and reject everything not durable. */
  private fail(err: Error): void {
    const failure = new JournalWriteError(`journal write failed: ${err.message}`, codeOf(err));
    this.stats.writeFailures++;
    // Every waiter left waits for a record past the durable end.
    const refused = this.waiters;
    this.waiters = [];
    this.pending = [];
    this.appended = this.durable;
    this.busy = false;
    this.failed = failure;
    try {
      ftruncateSync(this.fd, this.bytes);
      fdatasyncSync(this.fd);
    } catch (cutErr) {
      this.log.error('cannot cut the journal back to its durable end; the state on disk is unknown', { error: (cutErr as Error).message });
      this.onFatal?.(cutErr as Error);
    }
    this.log.error('journal write failed; the changes not yet durable were dropped and refused, and changes are refused until the disk is writable again', {
      error: err.message,
      code: failure.code,
      file: join(this.dir, JOURNAL),
    });
    this.onFailure?.(failure);
    for (const w of refused) w.reject(failure);
  }

  private markFailed(err: unknown, what: string): void {
    this.failed = new JournalWriteError(`${what} failed: ${(err as Error).message}`, codeOf(err));
    this.stats.writeFailures++;
    this.log.error(`${what} failed; changes are refused until the disk is writable again`, { error: (err as Error).message, code: this.failed.code, dir: this.dir });
  }

  /**
   * Whether the state directory takes writes: writes and syncs a 64 KiB file
   * and removes it. Throws the write's error (ENOSPC while the disk is full).
   */
  async probe(): Promise<void> {
    const path = join(this.dir, PROBE);
    try {
      const fh = await openAsync(path, 'w');
      try {
        await fh.writeFile(Buffer.alloc(PROBE_BYTES));
        await fh.datasync();
      } finally {
        await fh.close();
      }
    } finally {
      await unlink(path).catch(() => undefined);
    }
  }

  /** The probe, synchronously (at start-up): on failure the journal starts failed (read-only). */
  checkWritable(): void {
    if (this.failed) return;
    const path = join(this.dir, PROBE);
    try {
      const fd = openSync(path, 'w');
      try {
        writeFully(fd, Buffer.alloc(PROBE_BYTES));
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      this.markFailed(err, 'writing to the state directory');
    } finally {
      removeQuietly(path);
    }
  }

  /** After a successful probe: accept writes again (starting a journal if there was none). */
  recover(): void {
    if (!this.failed) return;
    if (this.fd < 0) {
      if (!existsSync(this.dir)) makeStateDirectory(this.dir);
      this.resetJournal();
    }
    this.failed = null;
    this.log.info('the state directory takes writes again; changes are accepted', { dir: this.dir });
    // A compaction that failed on the full disk need not wait for its retry timer.
    if (this.closedExists && !this.foldRun) {
      if (this.foldTimer) clearTimeout(this.foldTimer);
      this.foldTimer = null;
      this.scheduleFold(0);
    }
  }

  // ---- compaction --------------------------------------------------------------

  private wantsRotation(): boolean {
    return this.fold !== undefined && !this.closing && this.bytes >= this.compactBytes && !this.closedExists && this.rotateBackoff === null && this.failed === null;
  }

  /**
   * Closes the live journal and starts the next generation, between two group
   * commits (records appended meanwhile wait in `pending` and go to the new one).
   */
  private async rotate(): Promise<void> {
    this.busy = true;
    const path = join(this.dir, JOURNAL);
    const closedPath = join(this.dir, CLOSED_JOURNAL);
    const tmp = `${path}.tmp`;
    const next = this.generation + 1;
    const header = frame(JSON.stringify({ generation: next }));
    let step = 'writing the next journal';
    try {
      const fh = await openAsync(tmp, 'w');
      try {
        await fh.writeFile(header);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      step = 'closing the journal';
      await rename(path, closedPath);
      step = 'starting the next journal';
      try {
        await rename(tmp, path);
      } catch (err) {
        // Put the closed journal back, or the next records would land in a file a fold removes.
        try {
          renameSync(closedPath, path);
        } catch (backErr) {
          this.onFatal?.(backErr as Error);
        }
        throw err;
      }
      const dir = await openAsync(this.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      this.stats.compactionFailures++;
      this.log.error(`journal rotation failed ${step}; compaction put off`, { error: (err as Error).message, retryInS: this.foldRetryMs / 1000 });
      this.rotateBackoff = setTimeout(() => (this.rotateBackoff = null), this.foldRetryMs);
      this.rotateBackoff.unref();
      this.busy = false;
      this.flush();
      return;
    }
    const fd = openSync(path, 'a');
    closeSync(this.fd);
    this.fd = fd;
    this.bytes = header.length;
    this.generation = next;
    this.closedExists = true;
    this.busy = false;
    this.log.info('journal rotated for compaction', { generation: next });
    this.scheduleFold(0);
    this.flush();
  }

  private scheduleFold(delayMs: number): void {
    if (this.fold === undefined || this.foldTimer || this.foldRun) return;
    const start = (): void => {
      this.foldTimer = null;
      this.foldRun = this.runFold().finally(() => (this.foldRun = null));
    };
    if (delayMs <= 0) return start();
    this.foldTimer = setTimeout(start, delayMs);
    this.foldTimer.unref();
  }

  /** Folds the closed journal (generation live-1) into the next snapshot, then removes it. */
  private async runFold(): Promise<void> {
    if (!this.fold || !this.closedExists || this.closing) return;
    const generation = this.generation - 1;
    const started = Date.now();
    try {
      await this.fold(this.dir, generation);
    } catch (err) {
      this.stats.compactionFailures++;
      this.log.error('compaction failed; the journal keeps growing and compaction is tried again', { error: (err as Error).message, retryInS: this.foldRetryMs / 1000 });
      setImmediate(() => this.scheduleFold(this.foldRetryMs));
      return;
    }
    await unlink(join(this.dir, CLOSED_JOURNAL)).catch(() => undefined);
    this.closedExists = false;
    this.stats.compactions++;
    this.stats.snapshotGeneration = generation + 1;
    this.log.info('state compacted', { generation: generation + 1, ms: Date.now() - started });
  }

  /** A compaction is under way (or waiting to be retried). */
  get compacting(): boolean {
    return this.closedExists;
  }

  /** Resolves once no fold is running (a retry waiting on its timer is not waited for). */
  async settled(): Promise<void> {
    while (this.foldRun) await this.foldRun;
  }

  /** Flushes and closes (graceful shutdown). */
  async close(): Promise<void> {
    // A fold under way is not waited for: it writes a temp file and renames
    // it, so stopping half-way leaves a temp file the next start removes.
    this.closing = true;
    if (this.foldTimer) clearTimeout(this.foldTimer);
    if (this.rotateBackoff) clearTimeout(this.rotateBackoff);
    this.foldTimer = this.rotateBackoff = null;
    try {
      // Read-only since earlier (failed): nothing is pending, every change since was refused.
      if (!this.failed) await this.sync();
    } finally {
      if (this.fd >= 0) {
        try {
          fdatasyncSync(this.fd);
        } catch {
          // already reported by the failed flush
        }
        closeSync(this.fd);
        this.fd = -1;
      }
    }
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}
