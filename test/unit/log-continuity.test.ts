import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterCompaction, snapshotLogVersion } from '../../src/server/store/log-continuity.ts';

test('afterCompaction: follow from the compaction when no entry can have been lost', () => {
  // A new region on an etcd compacted before it existed: no log yet, or its first entries after the compaction.
  assert.deepEqual(afterCompaction(40, 0, null), { kind: 'follow', from: 40, expectVersion: 1 });
  assert.deepEqual(afterCompaction(40, 0, { version: 3, modRevision: 52 }), { kind: 'follow', from: 40, expectVersion: 1 });
  // A front end that applied everything there is.
  assert.deepEqual(afterCompaction(40, 7, { version: 7, modRevision: 31 }), { kind: 'follow', from: 40, expectVersion: 8 });
});

test('afterCompaction: reload when entries are gone, or when what was applied is not known', () => {
  assert.deepEqual(afterCompaction(40, 7, { version: 9, modRevision: 39 }), { kind: 'reload' }, 'the newest entry is before the compaction');
  assert.deepEqual(afterCompaction(40, null, { version: 9, modRevision: 45 }), { kind: 'reload' }, 'a snapshot without the log version');
});

test('afterCompaction: a log key older than what was applied is a history that went back', () => {
  assert.deepEqual(afterCompaction(40, 7, { version: 5, modRevision: 50 }), { kind: 'rewound' });
  assert.deepEqual(afterCompaction(40, 7, null), { kind: 'rewound' });
});

test('snapshotLogVersion: 0 without a snapshot, null for a snapshot of an older front end', () => {
  assert.equal(snapshotLogVersion(undefined), 0);
  assert.equal(snapshotLogVersion({}), null);
  assert.equal(snapshotLogVersion({ logVersion: 12 }), 12);
});
