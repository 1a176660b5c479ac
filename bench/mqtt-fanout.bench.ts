// One mapping change reaching N subscribed CPE watchers, over yang-push SSE
// and over MQTT, in the same run: the server's CPU time for the change and
// the time until the last watcher has it.
//
// The change: a pool of one local group, held by channel Y (one watcher); the
// N simulated CPE watchers (bench/mqtt-fanout-client.ts, in worker
// processes, HTTP/2 over TLS) all join channel X, which waits (unassigned).
// The Y watcher leaves (grace period 0): X is assigned in that request, and
// every one of the N watchers must learn it. SSE: the server writes one
// push-change-update per stream. MQTT: the server publishes one retained
// message and mosquitto (the shipped configuration: TLS, client certificates,
// the ACL) sends it to the N subscribed CPE connections.
// Server CPU: the sum over its threads of /proc/<pid>/task/*/schedstat (ns
// on a CPU), from just before the leave to the last delivery; the broker's
// the same way.
// Every simulated CPE has its own TLS connection, to the server (SSE) or to
// the broker (MQTT), as in the field; [per-session] > 1 multiplexes that many
// SSE streams over one HTTP/2 connection instead (cheaper for both ends).
// Run: node --import ./build/ts-loader.mjs bench/mqtt-fanout.bench.ts [sizes=1000,10000] [workers=4] [per-session=1]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect as h2connect } from 'node:http2';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startMosquitto, type Mosquitto } from '../lab/mosquitto.ts';
import { spawnLabProcess, type LabProcess } from '../lab/lab-process.ts';
import { REPO_ROOT } from '../lab/lab.ts';
import { mappingTopic } from '../src/protocol/mqtt-mapping.ts';
import { benchCleanup, NO_WATCHER_QUOTAS, pct } from './bench-support.ts';
import { h2request } from './h2-request.ts';

const SIZES = (process.argv[2] ?? '1000,10000').split(',').map(Number);
const WORKERS = Number(process.argv[3] ?? 4);
/** SSE streams per HTTP/2 connection: 1 is the field (every CPE its own connection, as every MQTT subscriber). */
const PER_SESSION = Number(process.argv[4] ?? 1);
const X = { source: '198.51.100.10', group: '232.10.0.1' };
const Y = { source: '198.51.100.11', group: '232.10.0.2' };
const now = (): number => performance.timeOrigin + performance.now();

const dir = mkdtempSync(join(tmpdir(), 'mnat-fanout-'));
const children: ChildProcess[] = [];
/** Every broker process from the moment it is spawned, so one still starting is cleaned up too. */
const brokerProcs: LabProcess[] = [];
const spawnBroker = (argv: string[], label: string): LabProcess => {
  notStopping();
  const proc = spawnLabProcess(argv, undefined, label);
  brokerProcs.push(proc);
  return proc;
};
// Run last registered first (also on Ctrl-C and SIGTERM): no new starts, processes, brokers, then the directory.
const cleanup = benchCleanup();
cleanup.t.after(() => rmSync(dir, { recursive: true, force: true }));
cleanup.t.after(async () => {
  for (const b of brokerProcs) await b.kill('SIGKILL').catch(() => undefined);
});
cleanup.t.after(() => {
  for (const c of children) c.kill('SIGKILL');
});
// First of all: nothing new starts once clean-up began (a round goes on while it awaits exits).
let stopping = false;
cleanup.t.after(() => void (stopping = true));
function notStopping(): void {
  if (stopping) throw new Error('the bench is stopping: nothing new is started');
}

/** CPU time (ns) of every thread of pid so far. */
function cpuNs(pid: number): number {
  let sum = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return sum;
}

function lines(child: ChildProcess, onLine: (line: string) => void): void {
  let pending = '';
  const feed = (d: string): void => {
    pending += d;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  };
  child.stdout?.setEncoding('utf8').on('data', feed);
  child.stderr?.setEncoding('utf8').on('data', feed);
}

async function startServer(extra: string[]): Promise<{ child: ChildProcess; port: number }> {
  const pool = join(dir, 'pool.json');
  writeFileSync(pool, JSON.stringify({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.1/32', 'source-range': 'keep' }] } }));
  notStopping();
  const child = spawn(process.execPath, [
    '--import', join(REPO_ROOT, 'build/ts-loader.mjs'), join(REPO_ROOT, 'src/server/main.ts'),
    '--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'certs/server.pem'), '--tls-key', join(dir, 'certs/server.key'),
    '--pool', pool, '--grace-period', '0', '--refresh-period', '3600',
    // Every simulated CPE comes from 127.0.0.1: no per-client quotas.
    ...NO_WATCHER_QUOTAS, '--max-connections-per-client', '0', '--max-subscriptions-per-client', '0', ...extra,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    const seen: string[] = [];
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${seen.join('\n')}`)), 30_000);
    lines(child, (l) => {
      seen.push(l);
      const m = / port=(\d+)/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { child, port };
}

async function call(origin: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const s = h2connect(origin, { ca: readFileSync(join(dir, 'certs/ca.pem')) });
  try {
    return await h2request(s, method, path, body);
  } finally {
    s.close();
  }
}

interface Result {
  mode: string;
  n: number;
  serverCpuMs: number;
  brokerCpuMs: number | null;
  p50: number;
  p99: number;
  last: number;
}

async function round(n: number, mode: 'sse' | 'mqtt'): Promise<Result> {
  let broker: Mosquitto | null = null;
  let url = '';
  if (mode === 'mqtt') {
    broker = await startMosquitto({
      dir: join(dir, `mosquitto-${n}`),
      port: 20000 + Math.floor(Math.random() * 20000),
      tls: { ca: join(dir, 'certs/ca.pem'), cert: join(dir, 'certs/server.pem'), key: join(dir, 'certs/server.key') },
      spawn: spawnBroker,
    });
    url = broker.url.replace('127.0.0.1', 'localhost');
  }
  const mqttArgs = broker
    ? ['--mqtt', `${url}/mnat`, '--mqtt-cacert', join(dir, 'certs/ca.pem'), '--mqtt-cert', join(dir, 'certs/mnat-server.pem'), '--mqtt-key', join(dir, 'certs/mnat-server.key')]
    : [];
  const { child: server, port } = await startServer(mqttArgs);
  const origin = `https://localhost:${port}`;
  // Y holds the pool's only group.
  const out = await call(origin, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id');
  const blocker = JSON.parse(out.text)['ietf-mnat:output']['watcher-id'] as string;
  const path = `/restconf/data/ietf-mnat:egress-global-joined/watcher=${blocker}`;
  await call(origin, 'PUT', path, { 'ietf-mnat:watcher': [{ id: blocker, 'joined-sg': [{ id: '1', ...Y }] }] });

  const per = Math.ceil(n / WORKERS);
  const workers: Array<{ ready: Promise<void>; delivered: Promise<number[]> }> = [];
  for (let w = 0; w < WORKERS; w++) {
    const count = Math.min(per, n - w * per);
    if (count <= 0) break;
    const cfg = {
      mode,
      count,
      origin,
      ca: join(dir, 'certs/ca.pem'),
      channel: X,
      perSession: PER_SESSION,
      ...(broker ? { mqtt: { host: 'localhost', port: Number(url.split(':').pop()), topic: mappingTopic('mnat', X), cert: join(dir, 'certs/cpe.pem'), key: join(dir, 'certs/cpe.key') } } : {}),
    };
    notStopping();
    const child = spawn(process.execPath, ['--import', join(REPO_ROOT, 'build/ts-loader.mjs'), join(REPO_ROOT, 'bench/mqtt-fanout-client.ts'), JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let readyFn!: () => void;
    let deliveredFn!: (at: number[]) => void;
    let failFn!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => (failFn = reject));
    const ready = Promise.race([new Promise<void>((r) => (readyFn = r)), failed]);
    const delivered = Promise.race([new Promise<number[]>((r) => (deliveredFn = r)), failed]);
    // Observed where the round awaits them; a round that fails at `ready` never awaits `delivered`,
    // whose rejection would otherwise end the process before the clean-up is done.
    for (const p of [failed, ready, delivered]) p.catch(() => undefined);
    // A worker that dies fails the round instead of leaving it waiting forever.
    child.on('exit', (code, signal) => {
      if (code) failFn(new Error(`worker ${w} exited ${code}`));
      else if (signal && signal !== 'SIGKILL') failFn(new Error(`worker ${w} killed by ${signal}`));
    });
    lines(child, (l) => {
      const e = JSON.parse(l) as { event: string; at?: number[]; error?: string };
      if (e.event === 'ready') readyFn();
      else if (e.event === 'delivered') deliveredFn(e.at!);
      else if (e.event === 'error') console.log(`  worker: ${e.error}`);
    });
    workers.push({ ready, delivered });
  }
  await Promise.all(workers.map((w) => w.ready));
  global.gc?.();
  const brokerPid = broker?.process.pid;
  const cpu0 = cpuNs(server.pid!);
  const b0 = brokerPid ? cpuNs(brokerPid) : 0;
  const t0 = now();
  const leave = await call(origin, 'DELETE', path);
  if (leave.status !== 204) throw new Error(`DELETE ${leave.status} ${leave.text}`);
  const at = (await Promise.all(workers.map((w) => w.delivered))).flat();
  const cpu1 = cpuNs(server.pid!);
  const b1 = brokerPid ? cpuNs(brokerPid) : 0;
  const lat = at.map((t) => t - t0);
  for (const c of children.splice(0)) c.kill('SIGKILL');
  if (broker) await broker.kill();
  return { mode, n, serverCpuMs: (cpu1 - cpu0) / 1e6, brokerCpuMs: brokerPid ? (b1 - b0) / 1e6 : null, p50: pct(lat, 50), p99: pct(lat, 99), last: Math.max(...lat) };
}

try {
  const r = spawnSync('sh', [join(REPO_ROOT, 'build/dev-certs.sh'), join(dir, 'certs'), 'localhost', 'mnat-server', 'cpe'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const results: Result[] = [];
  for (const n of SIZES) {
    for (const mode of ['sse', 'mqtt'] as const) {
      const res = await round(n, mode);
      results.push(res);
      console.log(
        `N=${n} ${mode.padEnd(4)}: server CPU ${res.serverCpuMs.toFixed(1)} ms` +
          (res.brokerCpuMs !== null ? ` (broker ${res.brokerCpuMs.toFixed(1)} ms)` : '') +
          `; delivery p50 ${res.p50.toFixed(1)} ms, p99 ${res.p99.toFixed(1)} ms, last ${res.last.toFixed(1)} ms`,
      );
    }
    const sse = results.find((x) => x.n === n && x.mode === 'sse')!;
    const mqtt = results.find((x) => x.n === n && x.mode === 'mqtt')!;
    console.log(`N=${n}: server CPU SSE/MQTT ${(sse.serverCpuMs / mqtt.serverCpuMs).toFixed(1)}x; last delivery SSE ${sse.last.toFixed(0)} ms vs MQTT ${mqtt.last.toFixed(0)} ms`);
  }
} finally {
  await cleanup.run();
}
