import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ago, formatServerLine, formatTable, redactWatcherId } from '../../src/agent/status-format.ts';

test('redactWatcherId: a 6-character prefix, nothing of a short id', () => {
  assert.equal(redactWatcherId('0123456789abcdef'), '012345…');
  assert.equal(redactWatcherId('12345678'), '…');
  assert.equal(redactWatcherId(null), null);
});

test('ago: seconds, then minutes, then hours; "?" for a bad time; never negative', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  assert.equal(ago('2026-01-01T11:59:00Z', now), '60s ago');
  assert.equal(ago('2026-01-01T11:50:00Z', now), '10m ago');
  assert.equal(ago('2026-01-01T09:00:00Z', now), '3h ago');
  assert.equal(ago('2026-01-01T12:00:05Z', now), '0s ago');
  assert.equal(ago('not a time', now), '?');
});

test('formatServerLine: connected with mode and watcher, or NOT connected with the last error', () => {
  assert.equal(
    formatServerLine({ origin: 'https://s:8443', connected: true, watcher: 'abcdef…', mode: 'push' }),
    'server     https://s:8443  connected (push)  watcher abcdef…',
  );
  assert.equal(
    formatServerLine({ origin: 'https://s:8443', connected: false, watcher: null, mode: 'push', lastError: 'ECONNREFUSED' }),
    'server     https://s:8443  NOT connected  last error: ECONNREFUSED',
  );
});

test('formatTable: columns as wide as the widest cell plus two, no trailing blanks', () => {
  assert.deepEqual(formatTable(['A', 'LONG HEAD', 'C'], [['xyz', '1', ''], ['w', '22', 'last']]), ['A    LONG HEAD  C', 'xyz  1', 'w    22         last']);
});
