// Region snapshots in etcd: the replica's snapshot as gzip'ed JSON cut into
// chunks under <prefix>snapshot/<revision>/<n> (etcd refuses requests over
// 1.5 MiB by default, and the JSON gateway adds a third for base64), then a
// head record <prefix>snapshot/head that names the revision, the chunk count
// and the SHA-256 of the whole. The head is written last and only over the
// head it replaces, so a reader never sees a half-written snapshot and two
// writers cannot step back in time.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { createGzip, gunzip } from 'node:zlib';
import { EtcdClient, type Compare, type TxnOp } from './etcd-client.ts';
import type { RegionSnapshot } from './etcd-replica.ts';

const gunzipAsync = promisify(gunzip);
/** One turn of the event loop, between steps of long work. */
export const yieldToEvents = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Bytes per chunk before base64: 1 MB becomes about 1.33 MB on the wire, under etcd's 1.5 MiB limit. */
export const CHUNK_BYTES = 1_000_000;

/** A packed snapshot: its chunks as written to etcd, their total size and SHA-256. */
export interface PackedSnapshot {
  chunks: Buffer[];
  bytes: number;
  sha256: string;
}

/**
 * Collects gzip's output straight into chunks of `size` bytes, hashing as it
 * goes: at 10⁶ watchers the whole is 50–70 MB, and joining it into one buffer
 * held the event loop 0.8 and 1.1 s in a profiled 10⁶ region run.
 */
export class ChunkCollector {
  private readonly chunks: Buffer[] = [];
  private readonly hash = createHash('sha256');
  private current: Buffer;
  private used = 0;
  private bytes = 0;

  constructor(private readonly size = CHUNK_BYTES) {
    this.current = Buffer.allocUnsafe(size);
  }

  add(data: Buffer): void {
    this.hash.update(data);
    this.bytes += data.length;
    for (let at = 0; at < data.length; ) {
      const n = data.copy(this.current, this.used, at);
      at += n;
      this.used += n;
      if (this.used === this.size) {
        this.chunks.push(this.current);
        this.current = Buffer.allocUnsafe(this.size);
        this.used = 0;
      }
    }
  }

  /** The chunks: at least one; the last may be short, and is empty only when nothing was added. */
  finish(): PackedSnapshot {
    if (this.used > 0 || this.chunks.length === 0) this.chunks.push(this.current.subarray(0, this.used));
    return { chunks: this.chunks, bytes: this.bytes, sha256: this.hash.digest('hex') };
  }
}

/**
 * The snapshot as gzip'ed JSON in chunks, written a few thousand watchers at
 * a time with the event loop let through in between: a region of a million
 * watchers is some 150 MB of JSON, which JSON.stringify would hold the front
 * end still for seconds to make (long enough for its lease, its probes and
 * its clients to notice).
 */
export async function packSnapshot(snapshot: RegionSnapshot, chunkBytes = CHUNK_BYTES): Promise<PackedSnapshot> {
  const gz = createGzip({ level: 3 });
  const out = new ChunkCollector(chunkBytes);
  gz.on('data', (b: Buffer) => out.add(b));
  const ended = once(gz, 'end');
  const write = async (text: string): Promise<void> => {
    if (!gz.write(text)) await once(gz, 'drain');
  };
  const list = async (items: readonly unknown[], per: number): Promise<void> => {
    for (let i = 0; i < items.length; i += per) {
      await write((i > 0 ? ',' : '') + items.slice(i, i + per).map((x) => JSON.stringify(x)).join(','));
      await yieldToEvents();
    }
  };
  const { state, homes, ...head } = snapshot;
  const { watchers, ...stateHead } = state;
  await write(`{${JSON.stringify(head).slice(1, -1)},"homes":{`);
  let first = true;
  for (const [home, ids] of Object.entries(homes)) {
    await write(`${first ? '' : ','}${JSON.stringify(home)}:[`);
    first = false;
    await list(ids, 20_000);
    await write(']');
  }
  await write(`},"state":{${JSON.stringify(stateHead).slice(1, -1)},"watchers":[`);
  await list(watchers, 5000);
  await write(']}}');
  gz.end();
  await ended;
  return out.finish();
}

export interface SnapshotHead {
  format: 'mnat-region-snapshot-head/1';
  revision: number;
  chunks: number;
  bytes: number;
  sha256: string;
  writtenAt: number;
}

export class SnapshotCorruptError extends Error {
  override name = 'SnapshotCorruptError';
}

const pad = (revision: number): string => String(revision).padStart(16, '0');
export const headKey = (prefix: string): string => `${prefix}snapshot/head`;
const chunkDir = (prefix: string, revision: number): string => `${prefix}snapshot/${pad(revision)}/`;

/** The head and its etcd mod revision (0: no snapshot yet). */
export async function readHead(client: EtcdClient, prefix: string): Promise<{ head: SnapshotHead | null; modRevision: number }> {
  const kv = await client.get(headKey(prefix));
  if (!kv) return { head: null, modRevision: 0 };
  const head = JSON.parse(kv.value.toString('utf8')) as SnapshotHead;
  if (head.format !== 'mnat-region-snapshot-head/1') throw new SnapshotCorruptError(`${headKey(prefix)}: unknown format ${JSON.stringify(head.format)}`);
  return { head, modRevision: kv.modRevision };
}

/** Loads and checks the snapshot a head names. */
export async function readSnapshot(client: EtcdClient, prefix: string, head: SnapshotHead): Promise<RegionSnapshot> {
  const parts: Buffer[] = [];
  for (let i = 0; i < head.chunks; i++) {
    const key = `${chunkDir(prefix, head.revision)}${i}`;
    const kv = await client.get(key);
    if (!kv) throw new SnapshotCorruptError(`${key} is missing (the head names ${head.chunks} chunks)`);
    parts.push(kv.value);
  }
  const packed = Buffer.concat(parts);
  const sha = createHash('sha256').update(packed).digest('hex');
  if (packed.length !== head.bytes || sha !== head.sha256) {
    throw new SnapshotCorruptError(`snapshot at revision ${head.revision}: ${packed.length} bytes with SHA-256 ${sha}, the head says ${head.bytes} bytes, ${head.sha256}`);
  }
  const snapshot = JSON.parse((await gunzipAsync(packed)).toString('utf8')) as RegionSnapshot;
  if (snapshot.format !== 'mnat-region-snapshot/1' || snapshot.revision !== head.revision) {
    throw new SnapshotCorruptError(`snapshot at revision ${head.revision} holds ${snapshot.format} at revision ${snapshot.revision}`);
  }
  return snapshot;
}

export interface WriteSnapshotOptions {
  /** Compares that must hold and puts made with the head (migrate: the region's config). */
  readonly also?: { compare: Compare[]; put: TxnOp[] };
  /** Called after every chunk but the last with the ms it took; the next chunk waits for it (SnapshotDuty's pacing). */
  readonly afterChunk?: (chunkMs: number) => Promise<void>;
  readonly now?: () => number;
}

/**
 * Writes the chunks, then the head if it is still `expectHeadMod` (0: none),
 * in one transaction with `also` (its compares must hold, its puts are made).
 * Returns the new head, or null when another front end wrote a head first or
 * a compare failed (our chunks are removed again).
 */
export async function writeSnapshot(
  client: EtcdClient,
  prefix: string,
  snapshot: RegionSnapshot,
  expectHeadMod: number,
  options: WriteSnapshotOptions = {},
): Promise<{ head: SnapshotHead; modRevision: number } | null> {
  const { also = { compare: [], put: [] }, afterChunk, now = Date.now } = options;
  const packed = await packSnapshot(snapshot);
  const chunks = packed.chunks.length;
  const dir = chunkDir(prefix, snapshot.revision);
  for (let i = 0; i < chunks; i++) {
    const started = now();
    await client.put(`${dir}${i}`, packed.chunks[i]!, { timeoutMs: 15_000 });
    if (afterChunk && i < chunks - 1) await afterChunk(now() - started);
  }
  const head: SnapshotHead = {
    format: 'mnat-region-snapshot-head/1',
    revision: snapshot.revision,
    chunks,
    bytes: packed.bytes,
    sha256: packed.sha256,
    writtenAt: Date.now(),
  };
  const txn = await client.txn(
    [{ key: headKey(prefix), target: 'MOD', result: 'EQUAL', modRevision: expectHeadMod }, ...also.compare],
    [{ put: { key: headKey(prefix), value: JSON.stringify(head) } }, ...also.put],
  );
  if (!txn.succeeded) {
    await client.deleteRange(dir, { prefix: true });
    return null;
  }
  return { head, modRevision: txn.revision };
}

/** Removes the chunks of every snapshot except those at the revisions kept. */
export async function removeOldSnapshots(client: EtcdClient, prefix: string, keep: readonly number[]): Promise<number> {
  const kept = new Set(keep.map(pad));
  const listed = await client.range(`${prefix}snapshot/`, { prefix: true, keysOnly: true });
  const dirs = new Set<string>();
  for (const kv of listed.kvs) {
    const rest = kv.key.slice(`${prefix}snapshot/`.length);
    const slash = rest.indexOf('/');
    if (slash > 0) dirs.add(rest.slice(0, slash));
  }
  let removed = 0;
  for (const d of dirs) {
    if (kept.has(d)) continue;
    await client.deleteRange(`${prefix}snapshot/${d}/`, { prefix: true });
    removed++;
  }
  return removed;
}
