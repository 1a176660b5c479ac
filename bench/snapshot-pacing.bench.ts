// What pacing the leader's routine snapshots buys the region's log writes
// (snapshot-duty.ts): a real 3-member etcd cluster, one writer putting
// 20 KB log entries back to back (as the log writer does, one write in
// flight), while a snapshot of CHUNKS megabyte chunks is written with
// writeSnapshot, unpaced and paced (a pause of the chunk's own time after
// each), alternating in one run; on an idle machine and with three processes
// spinning on the two CPUs (as during the region bench's population: two
// front ends, the load generator). Reported: while the chunks are written,
// how many log writes completed per second and their latency.
// Run: node --import ./build/ts-loader.mjs bench/snapshot-pacing.bench.ts [chunks] [rounds]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startEtcdCluster } from '../lab/etcd-cluster.ts';
import { EtcdClient } from '../src/server/store/etcd-client.ts';
import type { RegionSnapshot } from '../src/server/store/etcd-replica.ts';
import { CHUNK_BYTES, writeSnapshot } from '../src/server/store/etcd-snapshot.ts';
import { pauseAfterChunk } from '../src/server/store/snapshot-duty.ts';
import { benchCleanup, pct } from './bench-support.ts';

const CHUNKS = Number(process.argv[2] ?? 30);
const ROUNDS = Number(process.argv[3] ?? 3);
const PREFIX = '/bench/pacing/';

/** A snapshot whose gzip'ed JSON is about `chunks` chunks (random base64 hardly compresses). */
function bulkySnapshot(revision: number, chunks: number): RegionSnapshot {
  const strings = Math.ceil((chunks * CHUNK_BYTES) / 3750);
  const filler = Array.from({ length: strings }, () => randomBytes(3750).toString('base64'));
  return { format: 'mnat-region-snapshot/1', revision, now: 0, homes: {}, state: { watchers: filler } as unknown as RegionSnapshot['state'] };
}

interface Measured {
  seconds: number;
  writesPerS: number;
  p50: number;
  p99: number;
  max: number;
}

async function measure(client: EtcdClient, writerClient: EtcdClient, paced: boolean, round: number): Promise<Measured> {
  const entry = randomBytes(15_000).toString('base64');
  const revision = (await writerClient.put(`${PREFIX}log`, entry)).revision;
  const snapshot = bulkySnapshot(revision, CHUNKS);
  const done: Array<{ start: number; ms: number }> = [];
  let stop = false;
  const writer = (async () => {
    while (!stop) {
      const start = performance.now();
      await writerClient.put(`${PREFIX}log`, entry);
      done.push({ start, ms: performance.now() - start });
    }
  })();
  let chunksFrom = Infinity; // when the first chunk's put starts (after packing)
  const now = (): number => {
    const t = performance.now();
    if (chunksFrom === Infinity) chunksFrom = t;
    return t;
  };
  const afterChunk = paced ? (ms: number) => new Promise<void>((r) => setTimeout(r, pauseAfterChunk(ms))) : undefined;
  const written = await writeSnapshot(client, `${PREFIX}r${round}${paced ? 'p' : 'u'}/`, snapshot, 0, { now, ...(afterChunk ? { afterChunk } : {}) });
  const chunksTo = performance.now();
  stop = true;
  await writer;
  if (!written) throw new Error('snapshot not written');
  const during = done.filter((d) => d.start >= chunksFrom && d.start + d.ms <= chunksTo).map((d) => d.ms);
  const seconds = (chunksTo - chunksFrom) / 1000;
  await client.deleteRange(`${PREFIX}r${round}${paced ? 'p' : 'u'}/`, { prefix: true });
  return { seconds, writesPerS: during.length / seconds, p50: pct(during, 50), p99: pct(during, 99), max: Math.max(...during) };
}

function spinners(n: number, seconds: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', `const end = Date.now() + ${seconds * 1000}; while (Date.now() < end) {}`], { stdio: 'ignore' }));
}

const cleanup = benchCleanup();
try {
  const cluster = await startEtcdCluster(cleanup.t, {});
  const client = new EtcdClient({ endpoints: cluster.endpoints, keyPrefix: PREFIX, timeoutMs: 15_000 });
  const writerClient = new EtcdClient({ endpoints: cluster.endpoints, keyPrefix: PREFIX, timeoutMs: 15_000 });
  cleanup.t.after(() => {
    client.close();
    writerClient.close();
  });
  const fmt = (m: Measured): string => `chunks ${m.seconds.toFixed(1)} s, log writes ${m.writesPerS.toFixed(0)}/s, p50 ${m.p50.toFixed(0)} / p99 ${m.p99.toFixed(0)} / max ${m.max.toFixed(0)} ms`;
  for (const load of ['idle', 'busy'] as const) {
    const rates = { unpaced: [] as number[], paced: [] as number[] };
    const p50s = { unpaced: [] as number[], paced: [] as number[] };
    for (let round = 1; round <= ROUNDS; round++) {
      const spin = load === 'busy' ? spinners(3, 120) : [];
      try {
        const order = round % 2 ? [false, true] : [true, false];
        const parts: string[] = [];
        for (const paced of order) {
          const m = await measure(client, writerClient, paced, round);
          const k = paced ? 'paced' : 'unpaced';
          rates[k].push(m.writesPerS);
          p50s[k].push(m.p50);
          parts.push(`${k}: ${fmt(m)}`);
        }
        console.log(`${load} round ${round}: ${parts.join('; ')}`);
      } finally {
        for (const s of spin) s.kill('SIGKILL');
      }
    }
    const ratios = rates.paced.map((p, i) => p / (rates.unpaced[i] as number));
    console.log(`${load}: log writes/s while the chunks are written, paced/unpaced per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; p50 latency unpaced ${p50s.unpaced.map((x) => x.toFixed(0)).join(', ')} ms, paced ${p50s.paced.map((x) => x.toFixed(0)).join(', ')} ms`);
  }
  console.log(`${CHUNKS} chunks of ${CHUNK_BYTES} bytes, 20 KB log entries, 3 etcd members on loopback (data in /dev/shm), ${ROUNDS} rounds each, ${process.env.BENCH_NOTE ?? 'machine shared with other work'}`);
} finally {
  await cleanup.run();
}
