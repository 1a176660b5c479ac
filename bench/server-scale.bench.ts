// mnat-server at scale, in one process (this one) with the load generator in
// another: memory per watcher with N watchers of 4 joins each, populated over
// TLS HTTP/2 with durable (fsync'ed) PUTs, then the CPU this server spends
// while every watcher refreshes once per refresh period.
// Run: node --expose-gc --import ./build/ts-loader.mjs bench/server-scale.bench.ts [watchers=100000] [seconds=30]
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MnatState, type StateChange, type StateSnapshot } from '../src/server/state/mnat-state.ts';
import { Pool } from '../src/server/state/pool.ts';
import type { Logger } from '../src/host/host.ts';
import { RestconfApp } from '../src/server/restconf/app.ts';
import { newWatcherId } from '../src/server/restconf/operations.ts';
import { EmbeddedStore } from '../src/server/store/embedded-store.ts';
import { DEFAULT_POOL } from '../src/server/state/default-pool.ts';
import { Journal } from '../src/server/store/journal.ts';
import { listen } from '../src/server/http/listener.ts';
import { foldClosedJournal, stateConfigOf } from '../src/server/store/compaction.ts';
import { heapAfterGc, unlimitedClients } from './bench-support.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const WATCHERS = Number(process.argv[2] ?? 100_000);
const SECONDS = Number(process.argv[3] ?? 30);
const PERIOD = 10;
const heap = heapAfterGc;
heap();
const tmp = mkdtempSync(join(tmpdir(), 'mnat-scale-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const certs = join(tmp, 'certs');
if (spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), certs], { encoding: 'utf8' }).status !== 0) throw new Error('dev-certs.sh failed');

const quiet: Logger = { debug() {}, info() {}, warn: (m) => console.error(m), error: (m) => console.error(m) };
const t0 = performance.now();
const pool = Pool.fromJson(DEFAULT_POOL);
const poolMs = performance.now() - t0;
const options = { pool, refreshPeriodS: PERIOD, gracePeriodS: 250, maxJoinsPerWatcher: 64, newWatcherId };
const state = new MnatState(options);
// No automatic compaction here: the journal is kept whole to time a full replay below.
const journal = new Journal<StateSnapshot, StateChange>({ dir: join(tmp, 'state'), log: quiet, compactBytes: Number.MAX_SAFE_INTEGER });
journal.load();
const store = new EmbeddedStore(state, journal, { log: quiet, dir: join(tmp, 'state'), state: options });
// One load generator on one address: no per-client limits.
const clients = unlimitedClients();
const app = new RestconfApp(store, quiet, { aliasRoots: [], mtls: false, adminCns: [], longPollMaxMs: 60_000, longPollDefaultMs: 25_000, memoryUsage: () => process.memoryUsage(), clients, maxContainerWatchers: 0, maxSubscriptionsPerClient: 0, maxJoinsPerWatcher: 64 });
const listener = await listen({ host: '127.0.0.1', port: 0, insecure: false, tlsCert: join(certs, 'server.pem'), tlsKey: join(certs, 'server.key'), clients }, (req, res) => app.handle(req, res));
// The server's clock, as in store/ticker.ts.
let populating = true;
const tick = (): void => {
  const now = Date.now();
  // While the generator is still creating watchers nobody refreshes the early
  // ones; keep them alive until the refresh phase (which is what is measured).
  if (populating) state.restartClocks(now);
  void store.tick(now).catch(() => undefined);
  setTimeout(tick, 1000).unref();
};
tick();

const heap0 = heap();
const gen = spawn(process.execPath, [join(ROOT, 'bench/server-load.mjs'), `https://localhost:${listener.port}`, join(certs, 'ca.pem'), String(WATCHERS), '4', String(SECONDS), String(PERIOD)], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: gen.stdout! });
const nextLine = (): Promise<string> => new Promise((resolve) => lines.once('line', resolve));

const populated = (await nextLine()).split(' ');
populating = false;
state.restartClocks(Date.now());
await journal.sync();
const heap1 = heap();
const stats = state.stats();
console.log(`pool: built-in (232.0.0.0/8 minus a /24, ff3e::/96) = ${stats.poolSize} groups, built in ${poolMs.toFixed(1)} ms`);
console.log(`populated ${populated[1]} watchers x 4 joins over TLS h2 in ${(Number(populated[2]) / 1000).toFixed(1)} s (${Math.round((Number(populated[1]) * 2) / (Number(populated[2]) / 1000))} req/s incl. fsync'ed PUTs; ${journal.stats.fsyncs} fsyncs for ${journal.stats.records} journal records)`);
console.log(`channels: ${stats.channelsAssigned} assigned, ${stats.channelsUnassigned} unassigned; pool in use ${stats.poolInUse}`);
console.log(`memory: ${((heap1 - heap0) / WATCHERS).toFixed(0)} bytes per watcher in the whole server (heap delta ${((heap1 - heap0) / 1048576).toFixed(1)} MiB after gc); rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);

const cpu0 = process.cpuUsage();
const w0 = performance.now();
gen.stdin!.write('go\n');
const refreshed = (await nextLine()).split(' ');
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - w0;
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(`refresh phase: ${refreshed[1]} refreshes in ${refreshed[5]} s (${Math.round(Number(refreshed[1]) / Number(refreshed[5]))}/s achieved; nominal ${WATCHERS / PERIOD}/s = every watcher every ${PERIOD} s), ${refreshed[2]} errors, latency p50 ${refreshed[3]} ms p99 ${refreshed[4]} ms; load generator CPU ${refreshed[6]}% of one core, largest backlog ${refreshed[7]} requests`);
console.log(`server CPU during the refresh phase: ${((cpuMs / wall) * 100).toFixed(0)}% of one core (user ${(cpu.user / 1e6).toFixed(1)} s, system ${(cpu.system / 1e6).toFixed(1)} s over ${(wall / 1000).toFixed(1)} s); watchers alive at the end: ${state.stats().watchers}`);
gen.kill();
listener.destroyAll();
await listener.close().catch(() => undefined);
await journal.sync();

// Durability costs at this size: one compaction (what the worker thread does,
// timed here in-process: snapshot + closed journal → next snapshot), and a
// restart that replays a journal of every change so far.
const beforeCompact = journal.journalBytes;
await journal.close();
cpSync(join(tmp, 'state'), join(tmp, 'state-replay'), { recursive: true });
renameSync(join(tmp, 'state', 'journal.log'), join(tmp, 'state', 'journal.closed.log'));
const c0 = performance.now();
const snapshotBytes = foldClosedJournal(join(tmp, 'state'), 0, stateConfigOf(options));
const compactMs = performance.now() - c0;
rmSync(join(tmp, 'state', 'journal.closed.log'));
console.log(`compaction of ${(beforeCompact / 1048576).toFixed(1)} MiB of journal into a ${(snapshotBytes / 1048576).toFixed(1)} MiB snapshot: ${compactMs.toFixed(0)} ms in the compaction worker (off the event loop)`);
for (const [label, dir] of [['a journal replay', 'state-replay'], ['the snapshot', 'state']] as const) {
  const r0 = performance.now();
  const j2 = new Journal<StateSnapshot, StateChange>({ dir: join(tmp, dir), log: quiet });
  const loaded = j2.load();
  const opts = { ...options, pool: Pool.fromJson(DEFAULT_POOL) };
  const restored = loaded.snapshot ? MnatState.restore(loaded.snapshot, opts, Date.now()) : new MnatState(opts);
  for (const r of loaded.records) restored.applyChange(r);
  restored.restartClocks(Date.now());
  console.log(`restart from ${label} (${loaded.records.length} records): ${(performance.now() - r0).toFixed(0)} ms for ${restored.stats().watchers} watchers, ${restored.stats().channelsAssigned} mappings`);
  await j2.close();
}
process.exit(0);
