// The files of a state directory and how they are read. Shared by the journal
// (main thread) and the compaction worker, which reads them on its own.
//
//   snapshot.json       {"format":"mnat-snapshot","version":1,"generation":G,"crc32":"…","state":…}
//                       crc32 covers JSON.stringify(state); written tmp + fsync + rename + dir fsync.
//   journal.log         the live journal: one record per line, "<byte length> <crc32 hex> <json>\n";
//                       the first record is {"generation":G}.
//   journal.closed.log  a journal closed for compaction (at most one), being folded
//                       into the next snapshot by the compaction worker.
//
// The state is: the snapshot of generation S, then the closed journal if its
// generation is S, then the live journal (generation S, or S+1 after a closed
// one). A journal older than the snapshot was folded into it already (a crash
// before its file was removed) and is ignored.
import { closeSync, existsSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, crc32Hex } from './crc32.ts';

export const SNAPSHOT = 'snapshot.json';
export const JOURNAL = 'journal.log';
export const CLOSED_JOURNAL = 'journal.closed.log';
export const PROBE = 'probe.tmp';
/** Temp files a crash (or a full disk) may leave behind; removed at start. */
export const TEMP_FILES = [`${SNAPSHOT}.tmp`, `${JOURNAL}.tmp`, PROBE];

export class StateCorruptError extends Error {
  override name = 'StateCorruptError';
}

export function frame(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} ${crc32Hex(crc32(body))} `, 'latin1'), body, Buffer.from('\n')]);
}

export interface ScanResult {
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

const STATE_MEMBER = Buffer.from('"state":');

/** The snapshot file's state and generation (generation 0 and null without one). */
export function readSnapshot<S>(dir: string): { snapshot: S | null; generation: number } {
  const path = join(dir, SNAPSHOT);
  if (!existsSync(path)) return { snapshot: null, generation: 0 };
  const data = readFileSync(path);
  let doc: { format?: unknown; version?: unknown; generation?: unknown; crc32?: unknown; state?: unknown };
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new StateCorruptError(`${path} is not valid JSON (${(err as Error).message}); refusing to start. Restore it from a backup or move the state directory aside to start empty.`);
  }
  if (doc.format !== 'mnat-snapshot' || doc.version !== 1 || typeof doc.generation !== 'number' || typeof doc.crc32 !== 'string') {
    throw new StateCorruptError(`${path} is not an mnat snapshot (format/version/generation/crc32 missing); refusing to start`);
  }
  // The crc covers the state's JSON, which snapshotText() writes last, as is:
  // check those bytes of the file rather than serialise the state again.
  const at = data.indexOf(STATE_MEMBER);
  const end = data.length - (data[data.length - 1] === 0x0a ? 2 : 1);
  let crc = at > 0 ? crc32Hex(crc32(data.subarray(at + STATE_MEMBER.length, end))) : '';
  if (crc !== doc.crc32) crc = crc32Hex(crc32(Buffer.from(JSON.stringify(doc.state), 'utf8')));
  if (crc !== doc.crc32) {
    throw new StateCorruptError(`${path} fails its checksum (crc32 ${crc}, recorded ${doc.crc32}); refusing to start. Restore it or move the state directory aside.`);
  }
  return { snapshot: doc.state as S, generation: doc.generation };
}

/** The snapshot file's text for a state (serialised once; the crc covers the same text). */
export function snapshotText(generation: number, state: unknown): string {
  const stateJson = JSON.stringify(state);
  const crc = crc32Hex(crc32(Buffer.from(stateJson, 'utf8')));
  return `{"format":"mnat-snapshot","version":1,"generation":${generation},"crc32":"${crc}","state":${stateJson}}\n`;
}

export interface JournalFile<R> {
  /** The header's generation, or null for an empty file. */
  generation: number | null;
  records: R[];
  /** Bytes of whole records (the file is longer when it has a torn tail). */
  goodEnd: number;
  size: number;
}

/** Reads one journal file; throws StateCorruptError for a bad record followed by good ones, or a bad header. */
export function readJournalFile<R>(path: string): JournalFile<R> | null {
  if (!existsSync(path)) return null;
  const data = readFileSync(path);
  const scan = scanJournal(data);
  if (scan.badAt !== null) {
    throw new StateCorruptError(
      `${path}: corrupt record at byte offset ${scan.badAt} followed by valid records; refusing to start rather than drop acknowledged changes. Inspect the file (records are "<length> <crc32> <json>" lines).`,
    );
  }
  const header = scan.records[0] as { generation?: unknown } | undefined;
  if (header !== undefined && typeof header.generation !== 'number') throw new StateCorruptError(`${path}: first record is not a generation header; refusing to start`);
  return { generation: header ? (header.generation as number) : null, records: scan.records.slice(1) as R[], goodEnd: scan.goodEnd, size: data.length };
}

export interface DurableFiles<S, R> {
  snapshot: S | null;
  snapshotGeneration: number;
  /** The closed journal, when it extends the snapshot (a compaction is due or under way). */
  closed: JournalFile<R> | null;
  /** The closed journal is older than the snapshot (already folded): remove it. */
  closedStale: boolean;
  /** The live journal when it extends the state; null when missing or stale. */
  live: JournalFile<R> | null;
  /** The live journal exists but predates the snapshot (ignored). */
  liveStale: boolean;
  /** The generation the live journal must have. */
  liveGeneration: number;
}

/**
 * A journal file checked against the generation it must have: older is stale
 * (already folded into the snapshot), newer means the snapshot is missing or
 * old, which is corruption.
 */
function ofGeneration<R>(file: JournalFile<R> | null, want: number, path: string, dir: string, snapshotGeneration: number): { file: JournalFile<R> | null; stale: boolean } {
  if (!file) return { file: null, stale: false };
  if (file.generation === null || file.generation < want) return { file: null, stale: true };
  if (file.generation > want) {
    throw new StateCorruptError(`${path} is generation ${file.generation} but ${join(dir, SNAPSHOT)} is generation ${snapshotGeneration}: the snapshot is missing or older than the journal; refusing to start`);
  }
  return { file, stale: false };
}

/** Reads what the state directory holds, without changing anything. */
export function readDurableFiles<S, R>(dir: string): DurableFiles<S, R> {
  const { snapshot, generation } = readSnapshot<S>(dir);
  const closedPath = join(dir, CLOSED_JOURNAL);
  const closed = ofGeneration(readJournalFile<R>(closedPath), generation, closedPath, dir, generation);
  const liveGeneration = closed.file ? generation + 1 : generation;
  const livePath = join(dir, JOURNAL);
  const live = ofGeneration(readJournalFile<R>(livePath), liveGeneration, livePath, dir, generation);
  return { snapshot, snapshotGeneration: generation, closed: closed.file, closedStale: closed.stale, live: live.file, liveStale: live.stale, liveGeneration };
}

/** fsync of a directory (after a rename or a new file in it). */
export function fsyncDir(dir: string): void {
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/** Writes all of `data` (one write(2) may write less, e.g. when a disk fills; the next one then fails). */
export function writeFully(fd: number, data: Buffer | string): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

/**
 * Replaces `path` with `data` so that a crash leaves either the old or the
 * new file: written to path.tmp, synced, renamed over path, the directory
 * synced. On failure the temp file is removed and the error thrown.
 */
export function replaceFile(dir: string, path: string, data: Buffer | string): void {
  const tmp = `${path}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeFully(fd, data);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // not there
    }
    throw err;
  }
  fsyncDir(dir);
}
