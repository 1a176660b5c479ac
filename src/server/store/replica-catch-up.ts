// Reading the region's log into a replica: one entry, and a replica not in
// use yet brought up to a revision through a watch of its own, or from the
// entries' keys (a front end reloading from etcd goes on answering from its
// old copy meanwhile).
import type { Logger } from '../../host/host.ts';
import type { EtcdClient, KeyValue, Watch } from './etcd-client.ts';
import { decodeEntry } from './etcd-log-writer.ts';
import type { IntentResults, LogEntry, RegionReplica } from './etcd-replica.ts';
import { readKeptEntries, type KnownLogVersion, type LogPut } from './entry-keys.ts';

/** The entry a log put holds; an unreadable one is applied as empty (every replica skips the same entry). */
export function readLogEntry(kv: Pick<KeyValue, 'value' | 'modRevision'>, log: Logger): LogEntry {
  try {
    return decodeEntry(kv.value);
  } catch {
    log.error('skipping an unreadable log entry', { revision: kv.modRevision, bytes: kv.value.length });
    return { from: '' };
  }
}

export interface CaughtUp {
  /** The last entry applied (null: none was needed). */
  last: LogPut | null;
  /** The outcomes of `frontendId`'s own entries, by sequence number: to answer once the replica is in use. */
  own: Array<[number, IntentResults]>;
  /** Entries applied. */
  applied: number;
}

export interface CatchUpSource {
  client: EtcdClient;
  /** The region's key prefix (for the entries' keys). */
  prefix: string;
  logKey: string;
  /** Whose entries' outcomes to collect (`own`). */
  frontendId: string;
  log: Logger;
}

/**
 * Applies the log to `replica` (whose entry applied last has log version
 * `known`) until it has applied `target`: from the log's history, or from the
 * entries' own keys when etcd compacted that history (entry-keys.ts); rejects
 * when neither has every entry.
 */
export function catchUpReplica(source: CatchUpSource, replica: RegionReplica, target: number, known: KnownLogVersion): Promise<CaughtUp> {
  const { client, logKey, frontendId, log } = source;
  const done: CaughtUp = { last: null, own: [], applied: 0 };
  const apply = (revision: number, value: Buffer, version: number): void => {
    const entry = readLogEntry({ modRevision: revision, value }, log);
    const results = replica.apply(revision, entry);
    if (entry.from === frontendId && entry.seq !== undefined) done.own.push([entry.seq, results]);
    done.applied++;
    done.last = { revision, value, version };
  };
  if (replica.revision >= target) return Promise.resolve(done);
  return new Promise((resolve, reject) => {
    const watch: Watch = client.watch(logKey, { startRevision: replica.revision + 1 }, {
      onEvents: (events) => {
        for (const e of events) {
          if (e.type === 'put' && e.kv.modRevision > replica.revision) apply(e.kv.modRevision, e.kv.value, e.kv.version);
        }
        if (replica.revision < target) return;
        watch.close();
        resolve(done);
      },
      onCompacted: (compactRevision) => {
        watch.close();
        const from = done.last?.version ?? known;
        readKeptEntries(client, source.prefix, logKey, replica.revision, from).then((kept) => {
          if (kept.outcome === 'rewound') throw new Error(`etcd's log key is older than revision ${replica.revision} (etcd restored from a backup?)`);
          if (kept.outcome !== 'all') throw new Error(`etcd compacted the log to revision ${compactRevision}, past revision ${replica.revision}, and does not keep every entry since as a key (an mnat-server older than the entry keys wrote some): waiting for the region's leader to write a snapshot that covers them (docs/region.md)`);
          for (const e of kept.entries) apply(e.revision, e.value, e.version);
          resolve(done);
        }).catch(reject);
      },
    });
  });
}
