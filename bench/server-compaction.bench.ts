// Normal-request latency while mnat-server compacts a large state under
// continuous writes. The state (N watchers with 4 joins each over 5 000
// channels) is built in this process and written as the starting snapshot;
// the server (its own process) starts on it with a small
// --journal-compact-bytes, writers PUT joins without pause (so the journal
// keeps growing and is compacted again and again), and a normal client on
// 127.0.0.1 refreshes / GETs every 20 ms. Reported: compactions done and how
// long the worker took, and p50/p99 of the normal client's requests inside
// and outside compaction windows (rotation → "state compacted"), and of the
// writers' PUTs. Goal: p99 under 50 ms during compaction.
// Run: node --import ./build/ts-loader.mjs bench/server-compaction.bench.ts [watchers=250000] [seconds=60] [PUTs/s=400]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { h2, NORMAL, Opened, probe, request, type Target } from '../lab/hostile-clients.ts';
import { DEFAULT_POOL } from '../src/server/state/default-pool.ts';
import { MnatState } from '../src/server/state/mnat-state.ts';
import { Pool } from '../src/server/state/pool.ts';
import { snapshotText } from '../src/server/store/journal-format.ts';
import { NO_WATCHER_QUOTAS, pct } from './bench-support.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const WATCHERS = Number(process.argv[2] ?? 250_000);
const SECONDS = Number(process.argv[3] ?? 60);
const WRITERS = 16;
/** PUTs per second, all writers together: continuous, but short of saturating the server. */
const PUT_RATE = Number(process.argv[4] ?? 400);
const COMPACT_BYTES = 1024 * 1024;
const tmp = mkdtempSync(join(tmpdir(), 'mnat-compaction-'));
let server: ChildProcess | null = null;
process.on('exit', () => {
  server?.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

// 1. The starting state, as a snapshot of generation 0.
const t0 = performance.now();
const state = new MnatState({ pool: Pool.fromJson(DEFAULT_POOL), refreshPeriodS: 65535, gracePeriodS: 250, maxJoinsPerWatcher: 64 });
const ids: string[] = [];
for (let i = 0; i < WATCHERS; i++) {
  const id = randomBytes(16).toString('base64url');
  ids.push(id);
  state.addWatcher(id, 0);
  const joins = Array.from({ length: 4 }, (_, k) => ({ id: String(k), channel: { source: `198.51.100.${(i + k) % 250}`, group: `232.1.${k}.${i % 250}` } }));
  state.setEgressJoins(id, joins, 0);
}
const dir = join(tmp, 'state');
mkdirSync(dir);
const text = snapshotText(0, state.snapshot());
writeFileSync(join(dir, 'snapshot.json'), text);
console.log(`state: ${WATCHERS} watchers x 4 joins, ${state.stats().channelsAssigned} channels; snapshot ${(text.length / 1048576).toFixed(1)} MiB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// 2. The server on it.
const lines: Array<{ at: number; line: string }> = [];
const port = await new Promise<number>((resolve, reject) => {
  server = spawn(
    process.execPath,
    ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), '--insecure', '--listen', '127.0.0.1:0', '--state-dir', dir, '--refresh-period', '65535',
      '--journal-compact-bytes', String(COMPACT_BYTES), ...NO_WATCHER_QUOTAS, '--max-connections-per-client', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const on = (d: Buffer): void => {
    out += d.toString();
    for (const l of d.toString().split('\n')) if (l) lines.push({ at: Date.parse(/ts=(\S+)/.exec(l)?.[1] ?? '') || Date.now(), line: l });
    const m = / port=(\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  };
  server.stdout!.on('data', on);
  server.stderr!.on('data', on);
  server.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
});
const target: Target = { port };
const restored = lines.find((l) => l.line.includes('state restored'));
console.log(`server started: ${restored?.line.replace(/^.*msg="state restored" /, '')}`);

// 3. Writers and the normal client.
const opened = new Opened();
const normalSession = await h2(opened, target, NORMAL);
const normalId = JSON.parse((await request(normalSession, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id')).body)['ietf-mnat:output']['watcher-id'] as string;
const putLatencies: number[] = [];
const putSentAt: number[] = [];
let putFailures = 0;
let running = true;
const writer = async (w: number): Promise<void> => {
  const s = await h2(opened, target, NORMAL);
  for (let n = 0; running; n++) {
    const id = ids[(n * WRITERS + w) % ids.length] as string;
    const body = JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': [{ id: '0', source: '203.0.113.1', group: `232.9.${n % 200}.${w}` }] }] });
    const sentAt = Date.now();
    const p0 = performance.now();
    const a = await request(s, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, body).catch(() => ({ status: 0 }));
    if (a.status === 204 || a.status === 201) {
      putLatencies.push(performance.now() - p0);
      putSentAt.push(sentAt);
    } else putFailures++;
    const wait = (WRITERS / PUT_RATE) * 1000 - (performance.now() - p0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
};
const normal = probe(target, normalId);
const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
await new Promise((r) => setTimeout(r, SECONDS * 1000));
running = false;
await Promise.all(writers);
const r = await normal.stop();
const metrics = (await request(normalSession, 'GET', '/metrics')).body;
opened.closeAll();

// 4. Compaction windows from the log: rotation → compacted.
const windows: Array<[number, number]> = [];
let open: number | null = null;
for (const { at, line } of lines) {
  if (line.includes('msg="journal rotated for compaction"')) open = at;
  else if (line.includes('msg="state compacted"') && open !== null) {
    windows.push([open, at]);
    open = null;
  }
}
if (open !== null) windows.push([open, Date.now()]);
const inside = (t: number): boolean => windows.some(([a, b]) => t >= a && t <= b);
const split = (lat: number[], at: number[]): [number[], number[]] => {
  const yes: number[] = [];
  const no: number[] = [];
  lat.forEach((l, i) => (inside(at[i] as number) ? yes : no).push(l));
  return [yes, no];
};
const fmt = (xs: number[]): string => (xs.length ? `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length})` : 'no samples');
const [nIn, nOut] = split(r.latenciesMs, r.sentAtMs);
const [pIn, pOut] = split(putLatencies, putSentAt);
const workerMs = lines.filter((l) => l.line.includes('msg="state compacted"')).map((l) => Number(/ ms=(\d+)/.exec(l.line)?.[1]));
console.log(`${SECONDS} s of continuous PUTs (${WRITERS} writers, ${PUT_RATE}/s asked): ${putLatencies.length} PUTs (${Math.round(putLatencies.length / SECONDS)}/s), ${putFailures} failed; journal compacted ${workerMs.length} times at ${COMPACT_BYTES / 1048576} MiB (worker ${workerMs.join(', ')} ms each); ${/mnat_snapshot_generation (\d+)/.exec(metrics)?.[1]} snapshot generations`);
console.log(`compaction windows: ${windows.length}, ${(windows.reduce((a, [x, y]) => a + (y - x), 0) / 1000).toFixed(1)} s of ${SECONDS} s`);
console.log(`normal client (refresh/GET every 20 ms) during compaction: ${fmt(nIn)}`);
console.log(`normal client outside compaction:                       ${fmt(nOut)}`);
console.log(`PUTs during compaction: ${fmt(pIn)}`);
console.log(`PUTs outside compaction: ${fmt(pOut)}`);
console.log(`normal client failures: ${r.failures.length}${r.failures.length ? ` (${r.failures[0]})` : ''}; server rss ${(metric('process_resident_memory_bytes') / 1048576).toFixed(0)} MiB`);
function metric(name: string): number {
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
}
process.exit(0);
