// Reading the region's log into a replica: one entry, and a replica not in
// use yet brought up to a revision through a watch of its own (a front end
// reloading from etcd goes on answering from its old copy meanwhile).
import type { Logger } from '../../host/host.ts';
import type { EtcdClient, KeyValue, Watch } from './etcd-client.ts';
import { decodeEntry } from './etcd-log-writer.ts';
import type { IntentResults, LogEntry, RegionReplica } from './etcd-replica.ts';

/** A put of the log key as etcd gave it. */
export interface LogPut {
  revision: number;
  value: Buffer;
  /** The log key's version (etcd counts its puts). */
  version: number;
}

/** The entry a log put holds; an unreadable one is applied as empty (every replica skips the same entry). */
export function readLogEntry(kv: KeyValue, log: Logger): LogEntry {
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

/** Applies the log at `logKey` to `replica` until it has applied `target`; rejects if the log was compacted past it. */
export function catchUpReplica(client: EtcdClient, logKey: string, replica: RegionReplica, target: number, frontendId: string, log: Logger): Promise<CaughtUp> {
  const done: CaughtUp = { last: null, own: [], applied: 0 };
  if (replica.revision >= target) return Promise.resolve(done);
  return new Promise((resolve, reject) => {
    const watch: Watch = client.watch(logKey, { startRevision: replica.revision + 1 }, {
      onEvents: (events) => {
        for (const e of events) {
          if (e.type !== 'put' || e.kv.modRevision <= replica.revision) continue;
          const entry = readLogEntry(e.kv, log);
          const results = replica.apply(e.kv.modRevision, entry);
          if (entry.from === frontendId && entry.seq !== undefined) done.own.push([entry.seq, results]);
          done.applied++;
          done.last = { revision: e.kv.modRevision, value: e.kv.value, version: e.kv.version };
        }
        if (replica.revision < target) return;
        watch.close();
        resolve(done);
      },
      onCompacted: (compactRevision) => {
        watch.close();
        reject(new Error(`the log was compacted to revision ${compactRevision} while catching up`));
      },
    });
  });
}
