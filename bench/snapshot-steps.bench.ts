// How long building a region snapshot holds the event loop: a replica of
// WATCHERS watchers with 4 joins each, its snapshot built at once
// (RegionReplica.snapshot) and in steps of 10 000 watchers with a turn of the
// event loop between them (what the leader does: etcd-store.ts), alternating
// in one run. Reported: the build's time and the longest hold of the event
// loop while it ran (the longest gap between the ticks of a 5 ms timer,
// less 5 ms; GC pauses included). Then packing that snapshot for etcd
// (packSnapshot: gzip'ed JSON collected straight into 1 MB chunks) and, beside
// it, joining those chunks into one buffer as packing used to end.
// Run: node --expose-gc --import ./build/ts-loader.mjs bench/snapshot-steps.bench.ts [watchers] [rounds]
import { RegionReplica, type RegionConfig } from '../src/server/store/etcd-replica.ts';
import { packSnapshot, yieldToEvents } from '../src/server/store/etcd-snapshot.ts';
import { runStepsPaused } from '../src/server/state/steps.ts';
import { watchLoopHolds } from './bench-support.ts';

const WATCHERS = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const STEP = 10_000;
const CONFIG: RegionConfig = {
  format: 'mnat-region-config/1',
  pool: { 'group-pool': { ranges: [{ 'group-range': '232.0.0.0/8', 'source-range': '10.0.0.0/16' }] } },
  refreshPeriodS: 180,
  gracePeriodS: 0,
  maxJoinsPerWatcher: 8,
};

// Populated through the log, as a front end's replica is: 1 000 intents per entry.
const replica = new RegionReplica(CONFIG);
const channel = (c: number) => ({ source: `198.51.${(c >> 8) & 255}.${c & 255}`, group: `232.1.${(c >> 8) & 255}.${c & 255}` });
let revision = 0;
for (let w = 0; w < WATCHERS; w += 1000) {
  const intents = [];
  for (let i = w; i < Math.min(WATCHERS, w + 1000); i++) {
    const id = `w${i.toString(36).padStart(8, '0')}-${'x'.repeat(14)}`;
    intents.push({ op: 'create-watcher', id, at: 1 }, { op: 'set-joins', id, joins: [0, 1, 2, 3].map((k) => ({ id: String(k), channel: channel((i * 7 + k * 13) % 5000) })), at: 1 });
  }
  replica.apply(++revision, { from: 'bench', intents } as Parameters<RegionReplica['apply']>[1]);
}
console.log(`replica: ${replica.state.stats().watchers} watchers x 4 joins over 5 000 channels, ${revision} log entries`);

const TICK_MS = 5;
/** Runs `build` with a timer ticking every TICK_MS; returns its value, its ms and the longest the loop was held meanwhile. */
async function measure<T>(build: () => Promise<T>): Promise<{ value: T; ms: number; heldMs: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 50));
  let longest = 0;
  const stop = watchLoopHolds(TICK_MS, (heldMs) => (longest = Math.max(longest, heldMs)));
  await new Promise((r) => setTimeout(r, 2 * TICK_MS));
  const t0 = performance.now();
  const value = await build();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 2 * TICK_MS));
  stop();
  return { value, ms, heldMs: Math.max(0, longest) };
}
const atOnce = async (): Promise<unknown> => replica.snapshot(false);
const inSteps = (): Promise<unknown> => runStepsPaused(replica.snapshotSteps(STEP, false), yieldToEvents);
for (let round = 1; round <= ROUNDS; round++) {
  const order = round % 2 ? ([['at once', atOnce], ['in steps', inSteps]] as const) : ([['in steps', inSteps], ['at once', atOnce]] as const);
  const parts: string[] = [];
  const held: Record<string, number> = {};
  for (const [name, build] of order) {
    const r = await measure(build);
    held[name] = r.heldMs;
    parts.push(`${name} ${r.ms.toFixed(0)} ms, loop held at most ${r.heldMs.toFixed(0)} ms`);
  }
  console.log(`round ${round}: ${parts.join('; ')}; longest hold at once / in steps ${((held['at once'] as number) / (held['in steps'] as number)).toFixed(1)}x`);
}
const snapshot = replica.snapshot(false);
for (let round = 1; round <= ROUNDS; round++) {
  const pack = await measure(() => packSnapshot(snapshot));
  const { chunks, bytes } = pack.value;
  const join = await measure(async () => Buffer.concat(chunks));
  console.log(`pack round ${round}: packed into ${chunks.length} chunks (${(bytes / 1e6).toFixed(1)} MB) in ${pack.ms.toFixed(0)} ms, loop held at most ${pack.heldMs.toFixed(0)} ms; joining them into one buffer (as packing ended before) held it ${join.heldMs.toFixed(0)} ms`);
}
console.log(`steps of ${STEP} watchers; ${process.env.BENCH_NOTE ?? 'machine shared with other work'}`);
process.exit(0);
