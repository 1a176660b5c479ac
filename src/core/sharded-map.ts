// A Map of string keys split over a fixed number of Maps by a hash of the key.
// V8 grows a Map by copying all of it into a table twice the size within one
// set(): at 2^19 and 2^20 keys one set() takes 0.1-0.2 s (bench/map-growth),
// and a region front end has several maps of a million watchers growing at the
// same moment (0.6 s of its event loop in a profiled 10^6 run). Split 64 ways,
// each copy is a 64th of that, and the shards reach their sizes at different
// times. Iteration goes shard by shard, each in insertion order: the same for
// the same operations, which is all replicas need, but not a plain Map's order.

const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;

/**
 * The shard of a key from its last three characters, mixed by a multiply:
 * server-made ids end in random characters, and hashing the whole key cost
 * four times a Map lookup (bench/map-growth). Keys alike at the end only
 * crowd fewer shards (missing characters read as 0).
 */
function shardOf(key: string): number {
  const n = key.length;
  const mixed = ((key.charCodeAt(n - 3) | 0) * 31 + (key.charCodeAt(n - 2) | 0)) * 31 + (key.charCodeAt(n - 1) | 0);
  return Math.imul(mixed, 0x9e3779b1) >>> (32 - SHARD_BITS);
}

export class ShardedMap<V> implements Iterable<[string, V]> {
  private readonly shards: Array<Map<string, V>> = Array.from({ length: SHARDS }, () => new Map<string, V>());
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]!.has(key);
  }

  set(key: string, value: V): this {
    const shard = this.shards[shardOf(key)]!;
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: string): boolean {
    if (!this.shards[shardOf(key)]!.delete(key)) return false;
    this.count--;
    return true;
  }

  *keys(): IterableIterator<string> {
    for (const shard of this.shards) yield* shard.keys();
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
