// How long one insert can hold the event loop when a map of watcher ids grows:
// V8 copies a Map into a table twice the size within one set(). A plain Map
// and the ShardedMap the state machine, the region replica and the liveness
// table use (src/core/sharded-map.ts), filled with the same KEYS ids,
// alternating in one run. Reported per map: the longest single set(), the
// whole fill, and a lookup of every id (what sharding costs: one hash more).
// Run: node --expose-gc --import ./build/ts-loader.mjs bench/map-growth.bench.ts [keys=1100000] [rounds=3]
import { randomBytes } from 'node:crypto';
import { ShardedMap } from '../src/core/sharded-map.ts';

const KEYS = Number(process.argv[2] ?? 1_100_000);
const ROUNDS = Number(process.argv[3] ?? 3);
// Ids as the server makes them (16 random bytes, base64url).
const ids = Array.from({ length: KEYS }, () => randomBytes(16).toString('base64url'));
const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => {});

interface MapLike {
  set(k: string, v: number): unknown;
  get(k: string): number | undefined;
}
function measure(make: () => MapLike): { longestMs: number; fillMs: number; getMs: number } {
  gc();
  const m = make();
  let longestMs = 0;
  const t0 = performance.now();
  for (let i = 0; i < ids.length; i++) {
    const t = performance.now();
    m.set(ids[i]!, i);
    const d = performance.now() - t;
    if (d > longestMs) longestMs = d;
  }
  const fillMs = performance.now() - t0;
  const t1 = performance.now();
  let sum = 0;
  for (const id of ids) sum += m.get(id)!;
  const getMs = performance.now() - t1;
  if (sum !== (ids.length * (ids.length - 1)) / 2) throw new Error('lookups went wrong');
  return { longestMs, fillMs, getMs };
}
const kinds = { Map: (): MapLike => new Map<string, number>(), ShardedMap: (): MapLike => new ShardedMap<number>() };
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 ? (['Map', 'ShardedMap'] as const) : (['ShardedMap', 'Map'] as const);
  const r = Object.fromEntries(order.map((k) => [k, measure(kinds[k])])) as Record<keyof typeof kinds, ReturnType<typeof measure>>;
  const line = (k: keyof typeof kinds): string => `${k} longest set ${r[k].longestMs.toFixed(1)} ms, fill ${r[k].fillMs.toFixed(0)} ms, ${KEYS} gets ${r[k].getMs.toFixed(0)} ms`;
  console.log(`round ${round}: ${line('Map')}; ${line('ShardedMap')}; longest set Map / sharded ${(r.Map.longestMs / r.ShardedMap.longestMs).toFixed(1)}x, gets sharded / Map ${(r.ShardedMap.getMs / r.Map.getMs).toFixed(2)}`);
}
console.log(`${KEYS} keys; node ${process.version}; ${process.env.BENCH_NOTE ?? 'machine shared with other work'}`);
