// A region snapshot is packed straight into the chunks written to etcd
// (etcd-snapshot.ts): the chunks join to the gzip'ed JSON of the snapshot,
// every chunk but the last is full, and the size and SHA-256 are those of
// the whole, as readSnapshot checks them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { ChunkCollector, packSnapshot } from '../../src/server/store/etcd-snapshot.ts';
import type { RegionSnapshot } from '../../src/server/store/etcd-replica.ts';
import { Pool, createSeededRandom } from '../../src/server/state/pool.ts';
import { MnatState } from '../../src/server/state/mnat-state.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('chunks are full but the last, join to what was added, and carry its size and hash', () => {
  const input = randomBytes(1000);
  const out = new ChunkCollector(64);
  // Pieces of uneven sizes, some crossing one or more chunk boundaries, one empty.
  for (let at = 0, n = 1; at < input.length; at += n, n = (n * 7 + 3) % 150) out.add(input.subarray(at, at + n));
  const packed = out.finish();
  assert.equal(packed.chunks.length, Math.ceil(1000 / 64));
  for (const c of packed.chunks.slice(0, -1)) assert.equal(c.length, 64);
  assert.equal(packed.chunks.at(-1)!.length, 1000 % 64);
  assert.deepEqual(Buffer.concat(packed.chunks), input);
  assert.equal(packed.bytes, 1000);
  assert.equal(packed.sha256, sha(input));
});

test('an exact multiple ends on a full chunk; nothing added is one empty chunk', () => {
  const full = new ChunkCollector(10);
  full.add(Buffer.alloc(30, 1));
  assert.deepEqual(full.finish().chunks.map((c) => c.length), [10, 10, 10]);
  const none = new ChunkCollector(10).finish();
  assert.deepEqual(none.chunks.map((c) => c.length), [0]);
  assert.equal(none.sha256, sha(Buffer.alloc(0)));
});

test('a packed snapshot unpacks to the snapshot', async () => {
  const pool = Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/16', 'source-range': '10.9.0.0/24' }] } }, { random: createSeededRandom(1) });
  let n = 0;
  const state = new MnatState({ pool, refreshPeriodS: 10, gracePeriodS: 250, maxJoinsPerWatcher: 8, newWatcherId: () => `w${++n}` });
  for (let i = 0; i < 12_000; i++) {
    const { id } = state.createWatcher(1000);
    state.setEgressJoins(id, [{ id: 'a', channel: { source: '192.0.2.1', group: `232.1.${i >> 8}.${i & 255}` } }], 1000);
  }
  const ids = [...Array(12_000).keys()].map((i) => `w${i + 1}`);
  const snapshot: RegionSnapshot = { format: 'mnat-region-snapshot/1', revision: 42, now: 1000, state: state.snapshot(), homes: { A: ids.filter((_, i) => i % 2 === 0), B: ids.filter((_, i) => i % 2 === 1) }, logVersion: 7 };
  const packed = await packSnapshot(snapshot, 4096);
  assert.ok(packed.chunks.length > 3, `several chunks (${packed.chunks.length})`);
  const whole = Buffer.concat(packed.chunks);
  assert.equal(packed.bytes, whole.length);
  assert.equal(packed.sha256, sha(whole));
  assert.deepEqual(JSON.parse(gunzipSync(whole).toString('utf8')), JSON.parse(JSON.stringify(snapshot)));
});
