// ShardedMap answers as a Map does, and iterates the same way for the same
// operations (replicas and snapshots restored from its order rely on that).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShardedMap } from '../../src/core/sharded-map.ts';
import { createSeededRandom } from '../../src/server/state/pool.ts';

function run(seed: number, ops: number): { sharded: ShardedMap<number>; plain: Map<string, number> } {
  const random = createSeededRandom(seed);
  const sharded = new ShardedMap<number>();
  const plain = new Map<string, number>();
  for (let i = 0; i < ops; i++) {
    const key = `w${Math.floor(random() * 3000).toString(36)}`;
    const r = random();
    if (r < 0.6) assert.equal(sharded.set(key, i), sharded);
    else if (r < 0.85) assert.equal(sharded.delete(key), plain.has(key), `delete ${key}`);
    else assert.equal(sharded.get(key), plain.get(key));
    if (r < 0.6) plain.set(key, i);
    else if (r < 0.85) plain.delete(key);
    assert.equal(sharded.has(key), plain.has(key));
    assert.equal(sharded.size, plain.size);
  }
  return { sharded, plain };
}

test('answers get, has, set, delete and size as a Map does', () => {
  const { sharded, plain } = run(7, 20_000);
  assert.ok(plain.size > 1000, `a sizeable map (${plain.size})`);
  assert.deepEqual(new Map(sharded), plain, 'the same entries');
  assert.deepEqual([...sharded.keys()], [...sharded].map(([k]) => k));
  assert.deepEqual([...sharded.values()], [...sharded.entries()].map(([, v]) => v));
});

test('the same operations iterate in the same order; refilled in that order, it iterates the same again', () => {
  const a = run(11, 10_000).sharded;
  const b = run(11, 10_000).sharded;
  assert.deepEqual([...a], [...b]);
  const refilled = new ShardedMap<number>();
  for (const [k, v] of a) refilled.set(k, v);
  assert.deepEqual([...refilled], [...a]);
});

test('keys spread over the shards: iteration is not insertion order', () => {
  const m = new ShardedMap<number>();
  const keys = Array.from({ length: 1000 }, (_, i) => `watcher-${i}`);
  for (const [i, k] of keys.entries()) m.set(k, i);
  assert.notDeepEqual([...m.keys()], keys);
  assert.deepEqual([...m.keys()].sort(), [...keys].sort());
});
