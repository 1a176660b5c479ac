// A region on this machine: a 3-member etcd cluster (data on disk), front end
// A in this process (so its heap can be measured after gc) and front end B
// as a child process, the load generator (bench/region-load.ts) in a third.
// W watchers with 4 joins each, half made through each front end, refreshing
// once per period on their own front end. Reports etcd writes/s (counted by
// the front ends, and the Raft proposals etcd committed), CPU and memory per
// watcher of the front ends, push latency across front ends, and failover time
// of real watcher clients when front end B is killed with SIGKILL.
// Run: node --expose-gc --import ./build/ts-loader.mjs bench/region-scale.bench.ts [watchers=200000] [refresh-seconds=60] [period-s=30]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'node:http';
import type { Logger } from '../src/host/host.ts';
import { RestconfApp } from '../src/server/restconf/app.ts';
import { listen } from '../src/server/http/listener.ts';
import { DEFAULT_POOL } from '../src/server/state/default-pool.ts';
import { parseServerOptions } from '../src/server/options.ts';
import { openEtcdStore } from '../src/server/store/etcd-store.ts';
import { startTicker } from '../src/server/store/ticker.ts';
import { startEtcdCluster } from '../lab/etcd-cluster.ts';
import { benchCleanup, heapAfterGc, NO_WATCHER_QUOTAS, unlimitedClients, watchLoopHolds } from './bench-support.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const WATCHERS = Number(process.argv[2] ?? 200_000);
const REFRESH_S = Number(process.argv[3] ?? 60);
const PERIOD = Number(process.argv[4] ?? 30);
const heap = heapAfterGc;
heap();
const cleanup = benchCleanup();
const tmp = mkdtempSync(join(tmpdir(), 'mnat-region-bench-'));
cleanup.t.after(() => rmSync(tmp, { recursive: true, force: true }));
const certs = join(tmp, 'certs');
if (spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), certs], { encoding: 'utf8' }).status !== 0) throw new Error('dev-certs.sh failed');
const at = (): string => new Date().toISOString().slice(11, 23);
// Front end A's event loop: how long it was held at most in each phase (a held loop misses its lease's renewals).
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
// Each hold over 500 ms is printed when it ends, beside A's log lines, to tell what held it.
watchLoopHolds(50, (heldMs) => heldMs > 500 && console.error(`A ${at()}: event loop was held ${heldMs.toFixed(0)} ms`));
const heldLoop = (): string => {
  const s = `event loop of A held at most ${(loopDelay.max / 1e6).toFixed(0)} ms (p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms)`;
  loopDelay.reset();
  return s;
};
const quiet: Logger = { debug: (m, f) => /keep-alive|snapshot built/.test(m) && console.error(`A ${at()} debug: ${m} ${JSON.stringify(f ?? {})}`), info: (m, f) => /snapshot/.test(m) && console.error(`A ${at()}: ${m} ${JSON.stringify(f ?? {})}`), warn: (m, f) => console.error(`A ${at()} warn: ${m} ${JSON.stringify(f ?? {})}`), error: (m, f) => console.error(`A ${at()} error: ${m} ${JSON.stringify(f ?? {})}`) };

const cluster = await startEtcdCluster(cleanup.t, { baseDir: tmp, quotaBytes: 8 * 1024 ** 3 });
// Also when the bench fails: this exit hook runs after the cluster's, which kills the members.
process.once('exit', () => rmSync(tmp, { recursive: true, force: true }));
// The load comes from one address: no per-client quotas (B gets the same through NO_WATCHER_QUOTAS).
// A's quotas are what B's flags give (NO_WATCHER_QUOTAS over the defaults): a region refuses front ends whose quotas differ.
const bOptions = parseServerOptions(['--tls-cert', 'x', '--tls-key', 'x', ...NO_WATCHER_QUOTAS]);
if (bOptions === 'help') throw new Error('unreachable');
const { maxWatchersPerAddress, maxWatchersPerOwner, newWatchersPerMinute, newWatcherBurst } = bOptions.state;
const quotas = { maxWatchersPerAddress, maxWatchersPerOwner, newWatchersPerMinute, newWatcherBurst };
const config = { format: 'mnat-region-config/1' as const, pool: DEFAULT_POOL, refreshPeriodS: PERIOD, gracePeriodS: 250, maxJoinsPerWatcher: 64, quotas };

// Front end A, here.
const storeA = await openEtcdStore({ endpoints: cluster.endpoints, prefix: '/mnat/bench/', frontendId: 'A', config, log: quiet });
const clients = unlimitedClients();
const app = new RestconfApp(storeA, quiet, { aliasRoots: [], mtls: false, adminCns: [], longPollMaxMs: 60_000, longPollDefaultMs: 25_000, memoryUsage: () => process.memoryUsage(), clients, maxContainerWatchers: 0, maxSubscriptionsPerClient: 0, maxJoinsPerWatcher: 64 });
const listener = await listen({ host: '127.0.0.1', port: 0, insecure: false, tlsCert: join(certs, 'server.pem'), tlsKey: join(certs, 'server.key'), clients }, (req, res) => app.handle(req, res));
const ticker = startTicker(storeA, quiet);
cleanup.t.after(async () => {
  ticker.stop();
  listener.destroyAll();
  await storeA.close();
});

// Front end B, a child process running the same sources as A (a dist/ built earlier would measure older code).
const bArgs = ['--listen', '127.0.0.1:0', '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--store', `etcd://${cluster.endpoints.join(',')}/bench`, '--frontend-id', 'B', '--refresh-period', String(PERIOD), ...NO_WATCHER_QUOTAS, '--max-connections-per-client', '0', '--max-subscriptions-per-client', '0'];
const b = spawn(process.execPath, ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), ...bArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
cleanup.t.after(() => b.kill('SIGKILL'));
const bPort = await new Promise<number>((resolve, reject) => {
  let out = '';
  const on = (d: Buffer): void => {
    out += d.toString();
    const m = / port=(\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  };
  b.stdout!.on('data', on);
  b.stderr!.on('data', on);
  b.on('exit', (code) => reject(new Error(`front end B exited ${code}: ${out}`)));
});
b.stderr!.on('data', (d: Buffer) => {
  for (const l of d.toString().split('\n')) if (/level=(warn|error)/.test(l)) console.error(`B: ${l}`);
});

/** user+system CPU seconds of a process (from /proc). */
const cpuOf = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const etcdPids = cluster.members.map((m) => m.proc!.pid);
/** Raft proposals committed, as etcd's leader counts them. */
const proposals = async (): Promise<number> => {
  let best = 0;
  for (const m of cluster.members) {
    const text = await new Promise<string>((resolve) => {
      const r = request({ host: '127.0.0.1', port: m.clientPort, path: '/metrics' }, (res) => {
        let s = '';
        res.on('data', (c) => (s += c));
        res.on('end', () => resolve(s));
      });
      r.on('error', () => resolve(''));
      r.end();
    });
    best = Math.max(best, Number(/^etcd_server_proposals_committed_total (\S+)/m.exec(text)?.[1] ?? 0));
  }
  return best;
};
const writesA = (): number => Object.values(storeA.regionStats().writes).reduce((a, n) => a + n, 0);

interface Sample {
  at: number;
  cpuA: number;
  cpuB: number;
  cpuEtcd: number;
  proposals: number;
  writesA: number;
}
const sample = async (): Promise<Sample> => {
  const c = process.cpuUsage();
  return { at: performance.now(), cpuA: (c.user + c.system) / 1e6, cpuB: cpuOf(b.pid!), cpuEtcd: etcdPids.reduce((s, p) => s + cpuOf(p), 0), proposals: await proposals(), writesA: writesA() };
};
const rates = (s0: Sample, s1: Sample): string => {
  const secs = (s1.at - s0.at) / 1000;
  return `front end A ${(((s1.cpuA - s0.cpuA) / secs) * 100).toFixed(0)}% of a core, B ${(((s1.cpuB - s0.cpuB) / secs) * 100).toFixed(0)}%, etcd (3 members) ${(((s1.cpuEtcd - s0.cpuEtcd) / secs) * 100).toFixed(0)}%; etcd proposals ${((s1.proposals - s0.proposals) / secs).toFixed(1)}/s, A's writes ${((s1.writesA - s0.writesA) / secs).toFixed(1)}/s`;
};

const heap0 = heap();
const rss0B = rssOf(b.pid!);
// The forced collections of heap() hold the loop for seconds at 10⁶: no phase's figure includes them.
loopDelay.reset();
const gen = spawn(process.execPath, ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'bench/region-load.ts'), `https://localhost:${listener.port}`, `https://localhost:${bPort}`, join(certs, 'ca.pem'), String(WATCHERS), String(PERIOD)], { stdio: ['pipe', 'pipe', 'inherit'] });
cleanup.t.after(() => gen.kill('SIGKILL'));
let finished = false;
gen.on('exit', (code) => {
  if (finished) return;
  console.error(`the load generator exited (${code}) before the bench finished`);
  void cleanup.run().then(() => process.exit(1));
});
const lines = createInterface({ input: gen.stdout! });
const ask = (cmd: string): Promise<string[]> =>
  new Promise((resolve) => {
    lines.once('line', (l) => resolve(l.split(' ')));
    gen.stdin!.write(`${cmd}\n`);
  });

console.log(`region: 3 etcd members (data on disk, ${tmp}), front ends A (in this process) and B (child), refresh period ${PERIOD} s, ${WATCHERS} watchers x 4 joins over 5 000 channels`);
const p0 = await sample();
const populated = await ask('populate');
const heldPopulating = heldLoop();
const p1 = await sample();
const bStats = await new Promise<string>((resolve) => {
  const r = spawnSync('curl', ['-sk', `https://127.0.0.1:${bPort}/metrics`], { encoding: 'utf8' });
  resolve(r.stdout);
});
const heap1 = heap();
const sA = storeA.stats();
const rA = storeA.regionStats();
console.log(`populated ${populated[1]} watchers in ${(Number(populated[2]) / 1000).toFixed(1)} s (${Math.round((WATCHERS * 2) / (Number(populated[2]) / 1000))} changes/s through both front ends, refreshing meanwhile, ${populated[3]} refresh errors, ${populated[4]} answers 503 retried): ${rates(p0, p1)}; ${heldPopulating}`);
console.log(`log: ${rA.entriesApplied} entries applied for ${WATCHERS * 2} changes (${((WATCHERS * 2) / rA.entriesApplied).toFixed(1)} intents per entry); A wrote ${JSON.stringify(rA.writes)}; snapshot at revision ${rA.snapshotRevision}`);
console.log(`state (same on both): ${sA.watchers} watchers, ${sA.channelsAssigned} channels assigned`);
console.log(`memory: front end A ${((heap1 - heap0) / WATCHERS).toFixed(0)} bytes per watcher (heap after gc, whole front end: replica of the region, homes, liveness of its half, HTTP); rss ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB. Front end B rss ${((rssOf(b.pid!) - rss0B) / 1048576).toFixed(0)} MiB more, heap ${(Number(/^nodejs_heap_used_bytes (\d+)/m.exec(bStats)?.[1] ?? 0) / 1048576).toFixed(0)} MiB (no forced gc)`);

const r0 = await sample();
loopDelay.reset(); // not the forced gc of the memory figure
const refreshed = await ask(`refresh ${REFRESH_S}`);
const r1 = await sample();
console.log(`refresh phase: ${refreshed[1]} refreshes in ${refreshed[5]} s (${Math.round(Number(refreshed[1]) / Number(refreshed[5]))}/s; nominal ${Math.round(WATCHERS / PERIOD)}/s), ${refreshed[2]} errors, p50 ${refreshed[3]} ms, p99 ${refreshed[4]} ms, generator ${refreshed[6]}% of a core`);
console.log(`  during it: ${rates(r0, r1)}; ${heldLoop()}`);

const push = await ask('push 500');
console.log(`push across front ends (PUT through A, subscriber on B, paced ~50/s): ${push[1]} changes, p50 ${push[2]} ms, p99 ${push[3]} ms, max ${push[4]} ms (from sending the PUT to the push-change-update on B)`);

await ask('clients 300');
b.kill('SIGKILL');
const failed = await ask('failover 0');
console.log(`failover: kill -9 of front end B with ${failed[1]} real watcher clients on it (push): served again by A after p50 ${failed[2]} ms, p99 ${failed[3]} ms, max ${failed[4]} ms; same watcher ids: ${failed[5]}; ${heldLoop()}`);
// etcd's own warnings (slow disk syncs, long applies, elections), to tell what a slow write was waiting for.
/** A Go duration as etcd logs it ("812.3ms", "1.2s", "950µs") in ms. */
const tookMs = (d: string): number => parseFloat(d) * (d.endsWith('ms') ? 1 : d.endsWith('µs') ? 1e-3 : d.endsWith('ns') ? 1e-6 : 1000);
for (const m of cluster.members) {
  const seen = new Map<string, { n: number; first: string; last: string; maxTook: string }>();
  for (const line of m.proc?.lines ?? []) {
    let w: { msg?: string; ts?: string; took?: string };
    try {
      w = JSON.parse(line) as typeof w;
    } catch {
      continue;
    }
    const k = seen.get(w.msg ?? '?') ?? { n: 0, first: w.ts ?? '', last: '', maxTook: '' };
    k.n++;
    k.last = w.ts ?? '';
    if (w.took !== undefined && (k.maxTook === '' || tookMs(w.took) > tookMs(k.maxTook))) k.maxTook = w.took;
    seen.set(w.msg ?? '?', k);
  }
  for (const [msg, k] of seen) console.log(`etcd ${m.name}: "${msg}" ×${k.n} (${k.first.slice(11, 23)}–${k.last.slice(11, 23)}${k.maxTook ? `, longest ${k.maxTook}` : ''})`);
}
console.log(`date ${new Date().toISOString().slice(0, 10)}; node ${process.version}; ${process.env.BENCH_NOTE ?? 'machine shared with other work (2 vCPUs)'}`);
finished = true;
gen.stdin!.write('exit\n');
await cleanup.run();
console.log(`stopping (A's leaving snapshot): ${heldLoop()}`);
process.exit(0);
