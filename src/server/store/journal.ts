// Durable state for mnat-server: an atomically replaced snapshot plus an
// append-only journal of state-change records, group-committed (many records,
// one fdatasync) so a reply can wait for durability without serialising the
// server on the disk.
//
// Files in the state directory:
//   snapshot.json  {"format":"mnat-snapshot","version":1,"generation":G,"crc32":"…","state":…}
//                  crc32 covers JSON.stringify(state); written tmp+fsync+rename+dir fsync.
//   journal.log    one record per line: "<byte length> <crc32 hex> <json>\n".
//                  The first record is {"generation":G}: the journal extends the
//                  snapshot of the same generation. A journal of an older
//                  generation was already folded into the snapshot (a crash
//                  between the two renames of a compaction) and is ignored.
//
// Recovery rules: a bad region that runs to the end of the journal is a torn
// tail (a write the process died in); it was never acknowledged, so it is cut
// off and reported with its byte offset. A bad record followed by a good one,
// or a snapshot that fails its checksum, is corruption: refuse to start.
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, statSync, truncateSync, writeSync, existsSync, mkdirSync } from 'node:fs';
import { fdatasync, write } from 'node:fs';
import { join } from 'node:path';
import { crc32, crc32Hex } from './crc32.ts';
import type { Logger } from '../../host/host.ts';

export class StateCorruptError extends Error {
  override name = 'StateCorruptError';
}

export interface LoadedState<S, R> {
  snapshot: S | null;
  records: R[];
  generation: number;
  /** Set when a torn tail was cut off. */
  truncatedAt?: { offset: number; bytes: number };
}

const SNAPSHOT = 'snapshot.json';
const JOURNAL = 'journal.log';

function frame(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} ${crc32Hex(crc32(body))} `, 'latin1'), body, Buffer.from('\n')]);
}

interface ScanResult {
  records: unknown[];
  goodEnd: number; // byte offset just past the last good record
  badAt: number | null; // offset of the first bad region, if any
}

/** Parses framed records; stops at the first bad one and checks whether anything good follows it. */
export function scanJournal(data: Buffer): ScanResult {
  const records: unknown[] = [];
  let pos = 0;
  const parseAt = (at: number): { value: unknown; end: number } | null => {
    const sp1 = data.indexOf(0x20, at);
    if (sp1 < 0 || sp1 - at > 10 || sp1 === at) return null;
    const lenText = data.toString('latin1', at, sp1);
    if (!/^\d+$/.test(lenText)) return null;
    const len = Number(lenText);
    const crcEnd = sp1 + 9;
    if (crcEnd >= data.length || data[crcEnd] !== 0x20) return null;
    const crcText = data.toString('latin1', sp1 + 1, crcEnd);
    if (!/^[0-9a-f]{8}$/.test(crcText)) return null;
    const bodyStart = crcEnd + 1;
    const bodyEnd = bodyStart + len;
    if (bodyEnd >= data.length || data[bodyEnd] !== 0x0a) return null;
    const body = data.subarray(bodyStart, bodyEnd);
    if (crc32Hex(crc32(body)) !== crcText) return null;
    try {
      return { value: JSON.parse(body.toString('utf8')), end: bodyEnd + 1 };
    } catch {
      return null;
    }
  };
  while (pos < data.length) {
    const r = parseAt(pos);
    if (!r) break;
    records.push(r.value);
    pos = r.end;
  }
  if (pos >= data.length) return { records, goodEnd: pos, badAt: null };
  // Is there any valid record after the bad spot? Try every line start.
  for (let nl = data.indexOf(0x0a, pos); nl >= 0 && nl + 1 < data.length; nl = data.indexOf(0x0a, nl + 1)) {
    if (parseAt(nl + 1)) return { records, goodEnd: pos, badAt: pos };
  }
  return { records, goodEnd: pos, badAt: null };
}

export interface JournalOptions {
  dir: string;
  log: Logger;
  /** Compact when the journal grows past this many bytes (default 16 MiB). */
  compactBytes?: number;
}

export class Journal<S = unknown, R = unknown> {
  private fd = -1;
  private generation = 0;
  private pending: Buffer[] = [];
  private pendingWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private flushing = false;
  private failed: Error | null = null;
  private bytes = 0;
  private readonly dir: string;
  private readonly log: Logger;
  readonly compactBytes: number;
  /** Called once when a write or fsync fails (the server stops rather than serve undurable state). */
  onFailure: ((err: Error) => void) | null = null;
  /** Counters for /metrics. */
  readonly stats = { records: 0, fsyncs: 0, compactions: 0, bytesWritten: 0 };

  constructor(options: JournalOptions) {
    this.dir = options.dir;
    this.log = options.log;
    this.compactBytes = options.compactBytes ?? 16 * 1024 * 1024;
  }

  get journalBytes(): number {
    return this.bytes;
  }

  /** Reads the snapshot and the journal; cuts a torn tail; throws StateCorruptError on corruption. */
  load(): LoadedState<S, R> {
    if (!existsSync(this.dir)) mkdirSync(this.dir, { recursive: true });
    const snapPath = join(this.dir, SNAPSHOT);
    let snapshot: S | null = null;
    let generation = 0;
    if (existsSync(snapPath)) {
      const text = readFileSync(snapPath, 'utf8');
      let doc: { format?: unknown; version?: unknown; generation?: unknown; crc32?: unknown; state?: unknown };
      try {
        doc = JSON.parse(text);
      } catch (err) {
        throw new StateCorruptError(`${snapPath} is not valid JSON (${(err as Error).message}); refusing to start. Restore it from a backup or move the state directory aside to start empty.`);
      }
      if (doc.format !== 'mnat-snapshot' || doc.version !== 1 || typeof doc.generation !== 'number' || typeof doc.crc32 !== 'string') {
        throw new StateCorruptError(`${snapPath} is not an mnat snapshot (format/version/generation/crc32 missing); refusing to start`);
      }
      const crc = crc32Hex(crc32(Buffer.from(JSON.stringify(doc.state), 'utf8')));
      if (crc !== doc.crc32) {
        throw new StateCorruptError(`${snapPath} fails its checksum (crc32 ${crc}, recorded ${doc.crc32}); refusing to start. Restore it or move the state directory aside.`);
      }
      snapshot = doc.state as S;
      generation = doc.generation;
    }
    const journalPath = join(this.dir, JOURNAL);
    let records: R[] = [];
    let truncatedAt: LoadedState<S, R>['truncatedAt'];
    if (existsSync(journalPath)) {
      const data = readFileSync(journalPath);
      const scan = scanJournal(data);
      if (scan.badAt !== null) {
        throw new StateCorruptError(
          `${journalPath}: corrupt record at byte offset ${scan.badAt} followed by valid records; refusing to start rather than drop acknowledged changes. Inspect the file (records are "<length> <crc32> <json>" lines).`,
        );
      }
      if (scan.goodEnd < data.length) {
        truncatedAt = { offset: scan.goodEnd, bytes: data.length - scan.goodEnd };
        this.log.warn('journal has a torn tail (an unacknowledged write cut short by a crash); truncating it', {
          file: journalPath,
          offset: scan.goodEnd,
          bytes: data.length - scan.goodEnd,
        });
        truncateSync(journalPath, scan.goodEnd);
      }
      const header = scan.records[0] as { generation?: unknown } | undefined;
      if (header === undefined) {
        records = [];
      } else if (typeof header.generation !== 'number') {
        throw new StateCorruptError(`${journalPath}: first record is not a generation header; refusing to start`);
      } else if (header.generation < generation) {
        this.log.info('journal predates the snapshot (compaction was interrupted); ignoring it', { file: journalPath });
        records = [];
      } else if (header.generation > generation) {
        throw new StateCorruptError(
          `${journalPath} is generation ${header.generation} but ${snapPath} is generation ${generation}: the snapshot is missing or older than the journal; refusing to start`,
        );
      } else {
        records = scan.records.slice(1) as R[];
      }
      if (header !== undefined && header.generation === generation) {
        this.openForAppend(journalPath, scan.goodEnd);
      }
    }
    this.generation = generation;
    if (this.fd < 0) this.resetJournal(generation);
    return { snapshot, records, generation, truncatedAt };
  }

  private openForAppend(path: string, size: number): void {
    this.fd = openSync(path, 'a');
    this.bytes = size;
  }

  /** Replaces the journal with an empty one of `generation` (atomic). */
  private resetJournal(generation: number): void {
    const path = join(this.dir, JOURNAL);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    const header = frame(JSON.stringify({ generation }));
    writeSync(fd, header);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    this.fsyncDir();
    if (this.fd >= 0) closeSync(this.fd);
    this.openForAppend(path, header.length);
  }

  private fsyncDir(): void {
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  /** Queues one record; it is durable once a later sync() resolves. */
  append(record: R): void {
    const buf = frame(JSON.stringify(record));
    this.pending.push(buf);
    this.stats.records++;
  }

  /** Resolves when every record appended so far is on disk (group commit). */
  sync(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.pending.length === 0 && !this.flushing) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pendingWaiters.push({ resolve, reject });
      if (!this.flushing) this.flush();
    });
  }

  private flush(): void {
    this.flushing = true;
    const batch = this.pending;
    const waiters = this.pendingWaiters;
    this.pending = [];
    this.pendingWaiters = [];
    const data = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch);
    const done = (err: Error | null): void => {
      if (err) {
        // A journal that cannot be written must stop acknowledging changes.
        this.failed = new Error(`journal write failed: ${err.message}`);
        this.log.error('journal write failed; changes are no longer acknowledged', { error: err.message });
        this.onFailure?.(this.failed);
        for (const w of waiters) w.reject(this.failed);
        for (const w of this.pendingWaiters) w.reject(this.failed);
        this.pendingWaiters = [];
        this.flushing = false;
        return;
      }
      this.stats.fsyncs++;
      this.stats.bytesWritten += data.length;
      this.bytes += data.length;
      for (const w of waiters) w.resolve();
      if (this.pendingWaiters.length > 0 || this.pending.length > 0) {
        if (this.pendingWaiters.length === 0) {
          this.flushing = false;
          return;
        }
        this.flush();
      } else {
        this.flushing = false;
      }
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
    if (data.length === 0) {
      this.flushing = false;
      for (const w of waiters) w.resolve();
      return;
    }
    writeAll(0);
  }

  /** True when the journal is big enough that a compaction is worth it. */
  wantsCompaction(): boolean {
    return this.bytes >= this.compactBytes && !this.flushing && this.pending.length === 0;
  }

  /**
   * Writes `state` as the next generation's snapshot and starts an empty
   * journal. Synchronous, so no record can slip in between; the caller passes
   * the state as it is after every record appended so far.
   */
  compact(state: S): void {
    if (this.flushing || this.pending.length > 0) throw new Error('compact() while records are unflushed');
    const generation = this.generation + 1;
    const stateJson = JSON.stringify(state);
    const crc = crc32Hex(crc32(Buffer.from(stateJson, 'utf8')));
    const text = `{"format":"mnat-snapshot","version":1,"generation":${generation},"crc32":"${crc}","state":${stateJson}}\n`;
    const path = join(this.dir, SNAPSHOT);
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.fsyncDir();
    this.generation = generation;
    this.resetJournal(generation);
    this.stats.compactions++;
    this.log.info('state compacted', { generation, snapshotBytes: statSync(path).size });
  }

  /** Flushes and closes (graceful shutdown). */
  async close(): Promise<void> {
    try {
      await this.sync();
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
