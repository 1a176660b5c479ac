// How long the leader's routine snapshot waits after each chunk (snapshot-duty.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pauseAfterChunk, SNAPSHOT_SHARE } from '../../src/server/store/snapshot-duty.ts';

test('chunks take the given share of the time: the pause is what the chunk took times (1/share - 1)', () => {
  assert.equal(SNAPSHOT_SHARE, 0.5);
  assert.equal(pauseAfterChunk(80), 80);
  assert.equal(pauseAfterChunk(80, 0.25), 240);
  assert.equal(pauseAfterChunk(80, 1), 0);
});

test('a pause is never negative (a clock step back) nor longer than 10 s (a very slow etcd)', () => {
  assert.equal(pauseAfterChunk(-5), 0);
  assert.equal(pauseAfterChunk(60_000), 10_000);
});
