import assert from 'node:assert/strict';
import { test } from 'node:test';
import { entriesSince, entryKey, snapshotLogVersion, trimRanges } from '../../src/server/store/entry-keys.ts';

const P = '/mnat/east/';

test('entryKey: a writer\'s keys sort by sequence number', () => {
  assert.equal(entryKey(P, 'ab12', 7), '/mnat/east/entries/ab12-000000000007');
  const keys = [120, 9, 1000, 11].map((seq) => entryKey(P, 'w', seq));
  assert.deepEqual([...keys].sort(), [9, 11, 120, 1000].map((seq) => entryKey(P, 'w', seq)));
});

test('entriesSince: how many entry keys must be there, or why that cannot be known', () => {
  assert.equal(entriesSince(0, 0), 0, 'a new region: no log yet');
  assert.equal(entriesSince(0, 3), 3, 'a new region on an etcd compacted before it existed');
  assert.equal(entriesSince(7, 7), 0, 'nothing logged since');
  assert.equal(entriesSince(7, 9), 2, 'two entries since: one key fewer is one without a key (an older writer, or covered by a snapshot and deleted)');
  assert.equal(entriesSince(null, 9), 'unknown', 'a snapshot of an older front end: what was applied is not known');
  assert.equal(entriesSince(7, 5), 'rewound', 'the log key is older than what was applied');
});

test('trimRanges: per writer, the keys before its first entry logged after the snapshot', () => {
  const k = (writer: string, seq: number, modRevision: number) => ({ key: entryKey(P, writer, seq), modRevision });
  // Writer a: seq 1..4 at revisions 10, 12, 11 (3 committed before 2), 30. Writer b: all covered. Writer c: none covered.
  const keys = [k('a', 1, 10), k('a', 2, 21), k('a', 3, 11), k('a', 4, 30), k('b', 1, 13), k('b', 2, 14), k('c', 1, 25)];
  assert.deepEqual(trimRanges(P, keys, 20), [
    // a's seq 3 (revision 11) stays until the next trim: it sorts after seq 2, which is logged after 20.
    { from: '/mnat/east/entries/a-', end: entryKey(P, 'a', 2) },
    // b's keys are all covered: up to the last one listed, not further (b may have written more since).
    { from: '/mnat/east/entries/b-', end: `${entryKey(P, 'b', 2)}\0` },
  ]);
  assert.deepEqual(trimRanges(P, keys, 5), [], 'nothing covered');
  assert.deepEqual(trimRanges(P, [{ key: '/mnat/east/entries/odd', modRevision: 1 }], 5), [], 'a key not of this form is left alone');
});

test('snapshotLogVersion: 0 without a snapshot, null for a snapshot of an older front end', () => {
  assert.equal(snapshotLogVersion(undefined), 0);
  assert.equal(snapshotLogVersion({}), null);
  assert.equal(snapshotLogVersion({ logVersion: 12 }), 12);
});
