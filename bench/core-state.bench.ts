// Core figures: memory per watcher at 100 000 watchers with 4 joins each,
// the cost of refreshes and PUTs, and allocation from a /8 and an IPv6 /32.
// Run: node --import ./build/ts-loader.mjs bench/core-state.bench.ts [watchers]
// The joins go through the JSON codec as the server would decode them, so the
// strings held are what a real request leaves behind.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { decodeEgressWatcher, parseJson } from '../src/protocol/ietf-mnat-codec.ts';
import { MnatState } from '../src/server/state/mnat-state.ts';
import { Pool, createSeededRandom } from '../src/server/state/pool.ts';

const WATCHERS = Number(process.argv[2] ?? 100_000);
const JOINS = 4;
const CHANNELS = 5_000; // distinct global channels the population picks from

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  // Heap figures need a forced GC: run again with --expose-gc.
  const again = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(again.status ?? 1);
}
function heap(): number {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage().heapUsed;
}
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const pool = Pool.fromJson(
  { 'group-pool': { ranges: [{ 'group-range': '232.0.0.0/8', 'source-range': '10.0.0.0/16' }] } },
  { random: createSeededRandom(1) },
);
const state = new MnatState({ pool, refreshPeriodS: 10, gracePeriodS: 250, maxJoinsPerWatcher: 64, newWatcherId: () => randomBytes(16).toString('base64url') });
const rnd = createSeededRandom(2);
const channel = (i: number) => ({ source: `198.51.${(i >> 8) & 255}.${i & 255}`, group: `232.1.${(i >> 8) & 255}.${i & 255}` });

// Pre-build the request bodies so the measurement holds only what the state keeps.
const bodies: string[] = [];
for (let w = 0; w < WATCHERS; w++) {
  const joins = Array.from({ length: JOINS }, (_, k) => ({ id: String(k + 1), ...channel(Math.floor(rnd() * CHANNELS)) }));
  bodies.push(JSON.stringify({ 'ietf-mnat:watcher': [{ 'joined-sg': joins }] }));
}
const ids: string[] = [];
const base = heap();
let t0 = process.hrtime.bigint();
for (let w = 0; w < WATCHERS; w++) ids.push(state.createWatcher(0).id);
const createMs = ms(t0);
t0 = process.hrtime.bigint();
for (let w = 0; w < WATCHERS; w++) {
  const id = ids[w] as string;
  state.setEgressJoins(id, decodeEgressWatcher(parseJson(bodies[w] as string), id), 1);
}
const putMs = ms(t0);
const used = heap() - base;
bodies.length = 0;
t0 = process.hrtime.bigint();
for (let w = 0; w < WATCHERS; w++) state.refreshWatcher(ids[w] as string, 5000);
const refreshMs = ms(t0);
t0 = process.hrtime.bigint();
let n = 0;
for (let w = 0; w < WATCHERS; w++) n += state.assignedChannels(ids[w] as string).length;
const readMs = ms(t0);

const stats = state.stats();
console.log(`watchers ${WATCHERS} x ${JOINS} joins over ${CHANNELS} channels: ${stats.channelsAssigned} assigned`);
console.log(`memory: ${(used / WATCHERS).toFixed(0)} bytes per watcher (heap delta ${(used / 1048576).toFixed(1)} MiB, ids and join strings included)`);
console.log(`createWatcher: ${((createMs * 1000) / WATCHERS).toFixed(2)} us each`);
console.log(`decode + setEgressJoins (4 joins): ${((putMs * 1000) / WATCHERS).toFixed(2)} us each`);
console.log(`refreshWatcher: ${((refreshMs * 1000) / WATCHERS).toFixed(2)} us each (${Math.round(WATCHERS / (refreshMs / 1000))}/s on one core)`);
console.log(`assignedChannels: ${((readMs * 1000) / WATCHERS).toFixed(2)} us each (${n} entries)`);

for (const [label, range, source, group] of [
  ['IPv4 /8', '232.0.0.0/8', '10.0.0.0/16', '232.9.9.9'],
  ['IPv6 /32 (2^96 groups)', 'ff3e::/32', 'keep', 'ff3e::9'],
] as const) {
  const p = Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': range, 'source-range': source }] } }, { random: createSeededRandom(3) });
  const count = 100_000;
  const sg = { source: group.includes(':') ? '2001:db8::1' : '192.0.2.1', group };
  const s0 = p.steps();
  t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) p.allocate(sg);
  const allocMs = ms(t0);
  console.log(`pool ${label}: building it took no enumeration; ${count} allocations in ${allocMs.toFixed(0)} ms (${((allocMs * 1000) / count).toFixed(2)} us each, ${((p.steps() - s0) / count).toFixed(0)} tree nodes visited each)`);
}
