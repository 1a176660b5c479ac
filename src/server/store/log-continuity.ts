// When etcd's history is compacted past the log entry a front end applied
// last. The region compacts only what its newest snapshot covers, but etcd
// compacts its whole keyspace at once: another region on the same etcd, or
// the operator's compaction (etcdctl compact, --auto-compaction-*), can take
// history a front end still follows. Whether entries were lost in between
// tells the log key's version: etcd counts every put of a key, so the
// entries after the one applied last are versions known+1, known+2, …

/** What the front end knows of the log key at the entry it applied last (null: not known, e.g. after an older snapshot). */
export type KnownLogVersion = number | null;

/** The log key's version a snapshot includes: 0 without a snapshot, null when the snapshot does not say (older front ends). */
export function snapshotLogVersion(snapshot: { logVersion?: number } | undefined): KnownLogVersion {
  return snapshot ? (snapshot.logVersion ?? null) : 0;
}

export type CompactionOutcome =
  /** Nothing was lost: follow the log from `from`; the first entry it gives must be version `expectVersion`. */
  | { kind: 'follow'; from: number; expectVersion: number }
  /** Entries were lost (or cannot be known not to be): load a snapshot that covers the compaction. */
  | { kind: 'reload' }
  /** The log key is older than what was applied: etcd's history went back (restored from a backup). */
  | { kind: 'rewound' };

/**
 * `compactRevision`: etcd's compaction; `known`: the version applied last
 * (0: none, and no snapshot); `now`: the log key as etcd has it now (null:
 * there is none yet).
 */
export function afterCompaction(compactRevision: number, known: KnownLogVersion, now: { version: number; modRevision: number } | null): CompactionOutcome {
  if (known === null) return { kind: 'reload' };
  const version = now?.version ?? 0;
  if (version < known) return { kind: 'rewound' };
  // Newer entries, the last of them before the compaction: at least one of them is gone from etcd's history.
  if (version > known && (now as { modRevision: number }).modRevision < compactRevision) return { kind: 'reload' };
  // None newer, or the newest within reach: the watch gives them from the compaction on, and the first one's version tells if one is missing.
  return { kind: 'follow', from: compactRevision, expectVersion: known + 1 };
}
