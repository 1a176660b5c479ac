// The log's entries kept as keys of their own (PREFIX/entries/WRITER-SEQ),
// written in the same transaction as the put of the log key whose history is
// the log. etcd's compaction takes history, never keys: while no snapshot
// covers an entry its key keeps it, so entries that a compaction by others
// (another region on the same etcd, the operator) took from the log's history
// are still there for a front end that needs them, also when every front end
// was down in between. The leader deletes the keys its snapshots cover.
import { randomBytes } from 'node:crypto';
import type { EtcdClient, KeyValue } from './etcd-client.ts';

/** A put of the log key as etcd gave it. */
export interface LogPut {
  revision: number;
  value: Buffer;
  /** The log key's version (etcd counts its puts). */
  version: number;
}

export const entriesPrefix = (prefix: string): string => `${prefix}entries/`;

/** The first key after every entry key ("/" + 1). */
const entriesEnd = (prefix: string): string => `${prefix}entries0`;

/** One writing process's id: its entries' keys sort by sequence number. */
export function newWriterId(): string {
  return randomBytes(8).toString('hex');
}

export function entryKey(prefix: string, writer: string, seq: number): string {
  return `${entriesPrefix(prefix)}${writer}-${String(seq).padStart(12, '0')}`;
}

/** What the front end knows of the log key's version (etcd counts its puts) at the entry applied last; null: not known (a snapshot of an older front end). */
export type KnownLogVersion = number | null;

/** The log key's version a snapshot includes: 0 without a snapshot, null when the snapshot does not say. */
export function snapshotLogVersion(snapshot: { logVersion?: number } | undefined): KnownLogVersion {
  return snapshot ? (snapshot.logVersion ?? null) : 0;
}

/**
 * How many entry keys etcd must hold after the entry of log version `known`
 * for none to be missing, when the log key is at version `now`: each put of
 * the log key creates one entry key. 'unknown': what was applied is not known
 * (a snapshot of an older front end); 'rewound': the log key is older than
 * what was applied, so etcd's history went back (restored from a backup).
 * Fewer keys: some entries have none (written by an older mnat-server, or
 * deleted because a snapshot covers them).
 */
export function entriesSince(known: KnownLogVersion, now: number): number | 'unknown' | 'rewound' {
  if (known === null) return 'unknown';
  return now < known ? 'rewound' : now - known;
}

/**
 * The key ranges to delete so that every entry logged after `upTo` stays:
 * per writer, the keys before its first entry logged after `upTo` (a writer's
 * keys sort by sequence number, but its concurrent writes may commit in
 * another order, so a later key logged earlier waits for the next trim), or
 * up to its last key listed (it may have written more since the listing).
 * `keys` in key order, as etcd lists them.
 */
export function trimRanges(prefix: string, keys: ReadonlyArray<{ key: string; modRevision: number }>, upTo: number): Array<{ from: string; end: string }> {
  const base = entriesPrefix(prefix);
  const writers = new Map<string, { lastCovered: string | null; firstKept: string | null }>();
  for (const { key, modRevision } of keys) {
    const dash = key.lastIndexOf('-');
    if (!key.startsWith(base) || dash < base.length) continue;
    const writer = key.slice(base.length, dash);
    let w = writers.get(writer);
    if (!w) writers.set(writer, (w = { lastCovered: null, firstKept: null }));
    if (w.firstKept !== null) continue;
    if (modRevision > upTo) w.firstKept = key;
    else w.lastCovered = key;
  }
  const ranges: Array<{ from: string; end: string }> = [];
  for (const [writer, w] of writers) {
    if (w.lastCovered !== null) ranges.push({ from: `${base}${writer}-`, end: w.firstKept ?? `${w.lastCovered}\0` });
  }
  return ranges;
}

/** Entry keys in key order, in pages: as of revision `at` (0: now), only those written after `after`, values only with `values`. */
async function listEntryKeys(client: EtcdClient, prefix: string, options: { at: number; after: number; values: boolean }): Promise<KeyValue[]> {
  const kvs: KeyValue[] = [];
  let from = entriesPrefix(prefix);
  const { at, after, values } = options;
  for (;;) {
    const page = await client.range(from, { end: entriesEnd(prefix), limit: values ? 200 : 5000, keysOnly: !values, ...(at ? { revision: at } : {}), ...(after ? { minModRevision: after + 1 } : {}) });
    kvs.push(...page.kvs);
    const last = page.kvs[page.kvs.length - 1];
    if (!page.more || !last) return kvs;
    from = `${last.key}\0`;
  }
}

export type KeptEntries = { outcome: 'all'; revision: number; entries: LogPut[] } | { outcome: 'missing' | 'rewound' };

/**
 * The log's entries after revision `after` (whose log version is `known`),
 * in log order, read from their keys as of one revision (`revision`), when
 * etcd keeps every one of them (entriesSince).
 */
export async function readKeptEntries(client: EtcdClient, prefix: string, logKey: string, after: number, known: KnownLogVersion): Promise<KeptEntries> {
  const head = await client.range(logKey);
  const now = head.kvs[0]?.version ?? 0;
  const expected = entriesSince(known, now);
  if (expected === 'rewound') return { outcome: 'rewound' };
  if (expected === 'unknown') return { outcome: 'missing' };
  const found = await listEntryKeys(client, prefix, { at: head.revision, after, values: true });
  if (found.length !== expected) return { outcome: 'missing' };
  found.sort((a, b) => a.modRevision - b.modRevision);
  // The i-th entry since is the log key's (now - expected + i + 1)-th put.
  return { outcome: 'all', revision: head.revision, entries: found.map((kv, i) => ({ revision: kv.modRevision, value: kv.value, version: now - expected + i + 1 })) };
}

/** Deletes the entry keys logged at or before `upTo` (a snapshot covers them); returns how many ranges went. */
export async function trimEntryKeys(client: EtcdClient, prefix: string, upTo: number): Promise<number> {
  const kvs = await listEntryKeys(client, prefix, { at: 0, after: 0, values: false });
  const ranges = trimRanges(prefix, kvs, upTo);
  for (let i = 0; i < ranges.length; i += 64) {
    await client.txn([], ranges.slice(i, i + 64).map((r) => ({ deleteRange: { key: r.from, end: r.end } })));
  }
  return ranges.length;
}
