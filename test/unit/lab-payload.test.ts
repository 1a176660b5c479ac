import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePayload, encodePayload, HEADER_BYTES, SequenceTracker } from '../../lab/traffic/payload.ts';

test('payload round-trips stream, sequence and time; padding is checked', () => {
  const p = encodePayload({ stream: 7, seq: 123456789012, sentUs: 1_700_000_000_000_000 }, 100);
  assert.equal(p.length, 100);
  assert.deepEqual(decodePayload(p), { stream: 7, seq: 123456789012, sentUs: 1_700_000_000_000_000 });
  p[60] = (p[60]! + 1) & 0xff;
  assert.equal(decodePayload(p), null);
  assert.equal(encodePayload({ stream: 1, seq: 0, sentUs: 0 }, 1).length, HEADER_BYTES);
  assert.equal(decodePayload(new Uint8Array(10)), null);
  assert.equal(decodePayload(new Uint8Array(HEADER_BYTES)), null); // no magic
});

test('SequenceTracker counts gaps, duplicates, reorders and missing', () => {
  const t = new SequenceTracker();
  for (const s of [0, 1, 2, 5, 3, 3, 6, 9]) t.add(s);
  const st = t.stats();
  assert.equal(st.received, 8);
  assert.equal(st.unique, 7);
  assert.equal(st.duplicates, 1);
  assert.equal(st.reorders, 1);
  assert.equal(st.gaps, 2); // 2->5, 6->9
  assert.equal(st.firstSeq, 0);
  assert.equal(st.highestSeq, 9);
  assert.equal(st.missing, 3); // 4, 7, 8
});

test('SequenceTracker starting mid-stream has no missing', () => {
  const t = new SequenceTracker();
  for (const s of [40, 41, 42]) assert.equal(t.add(s), 'new');
  assert.deepEqual({ ...t.stats(), received: 0 }, { received: 0, unique: 3, duplicates: 0, reorders: 0, gaps: 0, firstSeq: 40, highestSeq: 42, missing: 0 });
});
