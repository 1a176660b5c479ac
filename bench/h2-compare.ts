// Request rates of mnat-server against a bare node:http2 server (answers 204)
// in the same run, measured with h2load over TLS: shared by
// bench/server-throughput.bench.ts (the embedded server) and
// bench/region-throughput.bench.ts (front ends of a region).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createNodeHttpTransport } from '../src/host/node-http.ts';

export const ROOT = new URL('..', import.meta.url).pathname;
export const H2LOAD = ['-c', '16', '-m', '16', '-t', '1'];
/**
 * Rounds per run. Pinned, the same bare server's rate still moves by up to
 * ±30 % between back-to-back runs on this machine's shared vCPUs (its CPU time
 * per request moves with it), so single rounds' ratios spread by ±0.2; eleven
 * rounds make the median about 1.5 times steadier than five did.
 */
export const ROUNDS = 11;

const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts a process; resolves with the port its output names (the `ready` pattern's first group). */
export function startProcess(argv: string[], ready: RegExp): Promise<{ port: number; proc: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let out = '';
    const on = (d: Buffer): void => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ port: Number(m[1]), proc });
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

/** The CPU h2load runs on once pinCpus() has pinned the processes (null: not pinned). */
let loadCpu: number | null = null;

/**
 * Servers on CPU 0; h2load, this process and `clientSide` (e.g. etcd members)
 * on CPU 1. Unpinned on two shared vCPUs, the scheduler moved the server and
 * the load generator onto one core at random moments, and single rounds of the
 * same server swung by ±0.3. Pinned, each server is measured alone on its core
 * (all of them the same way), which is what "requests per second per front
 * end" means. False with one CPU or when taskset(1) fails; h2load then runs unpinned.
 */
export function pinCpus(serverPids: number[], clientSide: number[] = []): boolean {
  if (availableParallelism() < 2) return false;
  const pin = (cpu: number, pid: number): boolean => spawnSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { stdio: 'ignore' }).status === 0;
  if (!serverPids.every((pid) => pin(0, pid)) || ![process.pid, ...clientSide].every((pid) => pin(1, pid))) return false;
  loadCpu = 1;
  return true;
}

export function h2load(args: string[]): { rps: number; ok: number; total: number; line: string } {
  const r = loadCpu === null ? spawnSync('h2load', [...H2LOAD, ...args], { encoding: 'utf8' }) : spawnSync('taskset', ['-c', String(loadCpu), 'h2load', ...H2LOAD, ...args], { encoding: 'utf8' });
  const text = r.stdout + r.stderr;
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN);
  const m = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded/.exec(text);
  const codes = /status codes: (\d+) 2xx/.exec(text);
  return { rps, ok: Number(codes?.[1] ?? 0), total: Number(m?.[1] ?? 0), line: /finished in .*/.exec(text)?.[0] ?? text.slice(-400) };
}

/** The bare node:http2 server answering 204 (bench/bare-h2-server.mjs). */
export function startBare(certs: string): Promise<{ port: number; proc: ChildProcess }> {
  return startProcess([join(ROOT, 'bench/bare-h2-server.mjs'), join(certs, 'server.pem'), join(certs, 'server.key')], /port (\d+)/);
}

/**
 * A second bare 204 server, compared with the first like the mnat servers:
 * its ratio would be 1 on a steady machine, so its spread over the rounds is
 * the yardstick's own noise, printed beside the figures it qualifies.
 */
export async function startBareTwin(certs: string, ids: string[]): Promise<ComparedServer & { proc: ChildProcess }> {
  const s = await startBare(certs);
  return { name: 'bare-204-twin', port: s.port, pid: s.proc.pid as number, ids, proc: s.proc };
}

const ANSWER_HEADERS = ['content-type', 'content-length', 'etag', 'cache-control'];

/**
 * The bare node:http2 server answering with mnat-server's own answers: a
 * refresh's and the first watcher's assigned-channels GET, status, headers
 * and body bytes as mnat-server at `origin` sent them.
 */
export async function startBareSameAnswers(certs: string, tmp: string, origin: string, ids: string[]): Promise<ComparedServer & { proc: ChildProcess }> {
  const http = createNodeHttpTransport({ origin, caFile: join(certs, 'ca.pem') });
  const pick = (r: { status: number; headers: Record<string, string>; body: string }) => {
    if (r.status !== 200) throw new Error(`mnat-server answered ${r.status}: ${r.body}`);
    return { headers: Object.fromEntries(ANSWER_HEADERS.filter((h) => r.headers[h] !== undefined).map((h) => [h, r.headers[h]])), body: r.body };
  };
  const post = pick(await http.request({ method: 'POST', path: '/restconf/operations/ietf-mnat:refresh-watcher-id', headers: { 'content-type': 'application/yang-data+json' }, body: JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': ids[0] } }) }));
  const get = pick(await http.request({ method: 'GET', path: `/restconf/data/ietf-mnat:assigned-channels/watcher=${ids[0]}` }));
  http.close();
  const file = join(tmp, 'same-answers.json');
  writeFileSync(file, JSON.stringify({ post, get }));
  const s = await startProcess([join(ROOT, 'bench/bare-h2-server.mjs'), join(certs, 'server.pem'), join(certs, 'server.key'), file], /port (\d+)/);
  return { name: 'bare-same-answer', port: s.port, pid: s.proc.pid as number, ids, proc: s.proc };
}

/** 1000 egress watchers with 4 joins each through one server (the GETs then read real mappings); returns their ids. */
export async function populate(origin: string, caFile: string, n = 1000): Promise<string[]> {
  const http = createNodeHttpTransport({ origin, caFile });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await http.request({ method: 'POST', path: '/restconf/operations/ietf-mnat:get-new-watcher-id' });
    const id = JSON.parse(r.body)['ietf-mnat:output']['watcher-id'] as string;
    ids.push(id);
    const joins = Array.from({ length: 4 }, (_, k) => ({ id: String(k), source: `198.51.100.${(i + k) % 250}`, group: `232.1.${k}.${i % 250}` }));
    await http.request({ method: 'PUT', path: `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, headers: { 'content-type': 'application/yang-data+json' }, body: JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': joins }] }) });
  }
  http.close();
  return ids;
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export interface ComparedServer {
  name: string;
  port: number;
  pid: number;
  ids: string[];
}

/**
 * `rounds` rounds; in each, h2load against the bare server and each mnat
 * server: refresh POSTs (of the server's first id) and assigned-channels GETs
 * (of its first 50 ids). Odd rounds start with the bare server, even rounds
 * with the mnat servers, so a drift of the shared machine's load favours
 * neither. Prints each round, then per server the median of the per-round
 * ratios (the figure) and the median ratio of server CPU per request
 * (bare/mnat: what a CPU-bound server would show, less sensitive to what else
 * the machine runs during one h2load run). The processes are pinned first
 * (pinCpus); `clientSide` are more processes kept off the servers' CPU.
 */
export function compareWithBare(tmp: string, requests: number, bare: { port: number; pid: number }, servers: ComparedServer[], rounds = ROUNDS, clientSide: number[] = []): void {
  const pinned = pinCpus([bare.pid, ...servers.map((s) => s.pid)], clientSide);
  const origin = (port: number): string => `https://127.0.0.1:${port}`;
  const bodies = new Map<string, string>();
  for (const s of servers) {
    const file = join(tmp, `refresh-${s.name}.json`);
    writeFileSync(file, JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': s.ids[0] } }));
    bodies.set(s.name, file);
  }
  type Kind = 'refresh' | 'get';
  /** One h2load run: req/s and the server's CPU seconds per request. */
  const run = (kind: Kind, port: number, pid: number, ids: string[], body: string): { rps: number; cpu: number } => {
    const c0 = cpuS(pid);
    const r =
      kind === 'refresh'
        ? h2load(['-n', String(requests), '-d', body, '-H', 'content-type: application/yang-data+json', `${origin(port)}/restconf/operations/ietf-mnat:refresh-watcher-id`])
        : h2load(['-n', String(requests), ...ids.slice(0, 50).map((id) => `${origin(port)}/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`)]);
    if (r.ok !== r.total) console.log(`  port ${port} ${kind}: only ${r.ok}/${r.total} 2xx`);
    return { rps: r.rps, cpu: (cpuS(pid) - c0) / requests };
  };
  const ratios = new Map<string, number[]>();
  const cpuRatios = new Map<string, number[]>();
  const rates = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number): void => void (m.get(k) ?? m.set(k, []).get(k)!).push(v);
  for (let round = 1; round <= rounds; round++) {
    const parts: string[] = [];
    for (const kind of ['refresh', 'get'] as const) {
      const first = servers[0] as ComparedServer;
      const runBare = () => run(kind, bare.port, bare.pid, first.ids, bodies.get(first.name) as string);
      let b = round % 2 ? runBare() : null;
      const mine = servers.map((s) => run(kind, s.port, s.pid, s.ids, bodies.get(s.name) as string));
      b ??= runBare();
      push(rates, `bare ${kind}`, b.rps);
      servers.forEach((s, i) => {
        const m = mine[i] as { rps: number; cpu: number };
        push(rates, `${s.name} ${kind}`, m.rps);
        push(ratios, `${s.name} ${kind}`, m.rps / b.rps);
        push(cpuRatios, `${s.name} ${kind}`, b.cpu / m.cpu);
        parts.push(`${s.name} ${kind} ${m.rps.toFixed(0)} / bare ${b.rps.toFixed(0)} req/s = ${(m.rps / b.rps).toFixed(2)} (CPU/request bare/mnat ${(b.cpu / m.cpu).toFixed(2)})`);
      });
    }
    console.log(`round ${round}: ${parts.join('; ')}`);
  }
  for (const s of servers) {
    for (const kind of ['refresh', 'get'] as const) {
      const k = `${s.name} ${kind}`;
      const what = kind === 'refresh' ? 'refresh POST' : 'assigned-channels GET';
      console.log(
        `${s.name} ${what}: median ratio ${median(ratios.get(k)!).toFixed(2)} (rounds ${ratios.get(k)!.map((x) => x.toFixed(2)).join(', ')}); ` +
          `median ${median(rates.get(k)!).toFixed(0)} req/s vs bare ${median(rates.get(`bare ${kind}`)!).toFixed(0)}; ` +
          `server CPU per request bare/mnat: median ${median(cpuRatios.get(k)!).toFixed(2)} (rounds ${cpuRatios.get(k)!.map((x) => x.toFixed(2)).join(', ')})`,
      );
    }
  }
  const cpus = pinned ? 'servers pinned to CPU 0, h2load and the rest to CPU 1' : 'not pinned (one CPU, or no taskset)';
  console.log(`h2load ${H2LOAD.join(' ')} -n ${requests}, TLS (h2), one server process each, ${rounds} rounds, ${cpus}, ${process.env.BENCH_NOTE ?? 'machine shared with other work'}`);
}
