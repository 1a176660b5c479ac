// The region leader's snapshots: one after every `everyBytes` of log applied,
// and one at once when etcd's history no longer reaches back to the newest
// snapshot (compacted by another region on the same etcd, or by its
// operator): a front end that starts or reloads needs that snapshot and the
// log after it. After each snapshot the history older than the previous one
// is compacted (the region's own compaction, so the newest stays reachable),
// and the entries' keys the previous one covers are deleted (entry-keys.ts).
// These snapshots are background work: their chunks (a megabyte each) wait
// between them, so that the region's log writes, which clients wait for, go
// on meanwhile (bench/snapshot-pacing.bench.ts). The one a leader writes when
// it stops cleanly goes at full speed: the operator waits for it.
import type { Logger } from '../../host/host.ts';
import { EtcdRequestError, type EtcdClient } from './etcd-client.ts';
import type { RegionSnapshot } from './etcd-replica.ts';
import { readHead, removeOldSnapshots, writeSnapshot } from './etcd-snapshot.ts';
import { trimEntryKeys } from './entry-keys.ts';

export interface SnapshotDutyOptions {
  client: EtcdClient;
  prefix: string;
  logKey: string;
  everyBytes: number;
  log: Logger;
  now: () => number;
  /** etcd writes a snapshot took (for the write counters). */
  countWrites: (n: number) => void;
  /** The pause between chunks (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
}

/** Routine snapshots' chunks take at most this share of the time they are being written. */
export const SNAPSHOT_SHARE = 0.5;
/** Nor does one pause grow beyond this, however slow etcd is. */
const MAX_PAUSE_MS = 10_000;

/** How long to wait after a chunk that took `chunkMs`, so that chunks take `share` of the time. */
export function pauseAfterChunk(chunkMs: number, share = SNAPSHOT_SHARE): number {
  return Math.min(MAX_PAUSE_MS, Math.max(0, chunkMs) * (1 / share - 1));
}

const timerSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds the snapshot to write (a region's is built in steps: etcd-store.ts). */
export type TakeSnapshot = () => RegionSnapshot | Promise<RegionSnapshot>;

export class SnapshotDuty {
  /** The newest snapshot's revision known here (0: none). */
  revision = 0;
  private inFlight: Promise<void> | null = null;
  /** Set when the front end stops: a snapshot being written stops pausing. */
  private leaving = false;
  private bytesSince = 0;

  constructor(private readonly o: SnapshotDutyOptions) {}

  /** An applied log entry of this many bytes. */
  applied(bytes: number): void {
    this.bytesSince += bytes;
  }

  /** Leader, after applying entries: a snapshot once enough log has come since the last. */
  maybeWrite(take: TakeSnapshot): void {
    if (!this.inFlight && this.bytesSince >= this.o.everyBytes) void this.write(take);
  }

  /**
   * Leader, stopping cleanly: a snapshot of everything applied, unless the
   * newest one has it all. One being written is finished first, unpaced.
   */
  async beforeLeaving(appliedRevision: number, take: TakeSnapshot): Promise<void> {
    this.leaving = true;
    if (this.inFlight) await this.inFlight;
    if (appliedRevision <= this.revision) return;
    this.o.log.info('leaving a snapshot for the next start', { revision: appliedRevision, snapshotRevision: this.revision });
    await this.write(take);
  }

  /** Leader, every second: whether etcd still holds the log from the newest snapshot on (one small read). */
  async checkHistory(appliedRevision: number, take: TakeSnapshot): Promise<void> {
    if (this.inFlight || appliedRevision <= this.revision) return;
    try {
      if (!(await this.historyGone(this.revision + 1))) return;
      // A leader before this one may have written a newer snapshot: check from that one next time.
      const { head } = await readHead(this.o.client, this.o.prefix);
      if (head && head.revision > this.revision) {
        this.revision = head.revision;
        return;
      }
    } catch {
      return; // etcd away: the probe tells
    }
    this.o.log.warn("etcd compacted the log past the region's newest snapshot (another region on this etcd, or its operator); writing a snapshot now so that front ends can start", { snapshotRevision: this.revision });
    await this.write(take);
  }

  private async historyGone(revision: number): Promise<boolean> {
    try {
      await this.o.client.range(this.o.logKey, { revision, keysOnly: true });
      return false;
    } catch (err) {
      if (err instanceof EtcdRequestError && /compacted/.test(err.message)) return true;
      if (err instanceof EtcdRequestError && /future revision/.test(err.message)) return false;
      throw err;
    }
  }

  /** Takes and writes a snapshot, then drops history older than the previous snapshot. */
  private write(take: TakeSnapshot): Promise<void> {
    const writing: Promise<void> = this.writeNow(take).finally(() => {
      if (this.inFlight === writing) this.inFlight = null;
    });
    this.inFlight = writing;
    return writing;
  }

  private async writeNow(take: TakeSnapshot): Promise<void> {
    this.bytesSince = 0;
    const started = this.o.now();
    try {
      const snapshot = await take();
      const before = await readHead(this.o.client, this.o.prefix);
      if (before.head && before.head.revision >= snapshot.revision) return;
      const sleep = this.o.sleep ?? timerSleep;
      const afterChunk = async (chunkMs: number): Promise<void> => {
        if (!this.leaving) await sleep(pauseAfterChunk(chunkMs));
      };
      const written = await writeSnapshot(this.o.client, this.o.prefix, snapshot, before.modRevision, { afterChunk, now: this.o.now });
      if (!written) return;
      this.o.countWrites(written.head.chunks + 1);
      this.revision = snapshot.revision;
      const previous = before.head?.revision;
      await removeOldSnapshots(this.o.client, this.o.prefix, previous === undefined ? [snapshot.revision] : [previous, snapshot.revision]);
      if (previous !== undefined) {
        await this.o.client.compact(previous);
        await trimEntryKeys(this.o.client, this.o.prefix, previous);
      }
      this.o.log.info('snapshot written', { revision: snapshot.revision, bytes: written.head.bytes, chunks: written.head.chunks, ms: this.o.now() - started, compactedTo: previous ?? 'none' });
    } catch (err) {
      this.o.log.warn('snapshot failed; the log keeps growing until the next one', { error: (err as Error).message });
    }
  }
}
