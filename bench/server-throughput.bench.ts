// Requests per second of mnat-server against a bare node:http2 server that
// answers 204, both over TLS, measured with h2load in the same run on the same
// machine, alternating in rounds. The per-round ratio is the figure (goal >= 0.6);
// its median over the rounds is reported with every round.
// Run: node --import ./build/ts-loader.mjs bench/server-throughput.bench.ts [requests] [rounds]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodeHttpTransport } from '../src/host/node-http.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const REQUESTS = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const H2LOAD = ['-c', '16', '-m', '16', '-t', '1'];
const tmp = mkdtempSync(join(tmpdir(), 'mnat-bench-'));
const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const certs = join(tmp, 'certs');
const made = spawnSync('sh', [join(ROOT, 'build/dev-certs.sh'), certs], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

function start(argv: string[], ready: RegExp): Promise<{ port: number; proc: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let out = '';
    const on = (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ port: Number(m[1]), proc });
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

function h2load(args: string[]): { rps: number; ok: number; total: number; line: string } {
  const r = spawnSync('h2load', [...H2LOAD, ...args], { encoding: 'utf8' });
  const text = r.stdout + r.stderr;
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN);
  const m = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded/.exec(text);
  const codes = /status codes: (\d+) 2xx/.exec(text);
  return { rps, ok: Number(codes?.[1] ?? 0), total: Number(m?.[1] ?? 0), line: /finished in .*/.exec(text)?.[0] ?? text.slice(-400) };
}

const bare = await start([join(ROOT, 'bench/bare-h2-server.mjs'), join(certs, 'server.pem'), join(certs, 'server.key')], /port (\d+)/);
const mnat = await start(
  ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), '--listen', '127.0.0.1:0', '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--state-dir', join(tmp, 'state'), '--refresh-period', '65535',
    // 1000 watchers from the bench's one address, no certificate: per-address quotas off.
    '--max-watchers-per-address', '0', '--new-watchers-per-minute', '0'],
  /port=(\d+)/,
);

// Populate: 1000 egress watchers with 4 joins each (the GETs read real mappings).
const http = createNodeHttpTransport({ origin: `https://localhost:${mnat.port}`, caFile: join(certs, 'ca.pem') });
const ids: string[] = [];
for (let i = 0; i < 1000; i++) {
  const r = await http.request({ method: 'POST', path: '/restconf/operations/ietf-mnat:get-new-watcher-id' });
  const id = JSON.parse(r.body)['ietf-mnat:output']['watcher-id'] as string;
  ids.push(id);
  const joins = Array.from({ length: 4 }, (_, k) => ({ id: String(k), source: `198.51.100.${(i + k) % 250}`, group: `232.1.${k}.${i % 250}` }));
  await http.request({ method: 'PUT', path: `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, headers: { 'content-type': 'application/yang-data+json' }, body: JSON.stringify({ 'ietf-mnat:watcher': [{ id, 'joined-sg': joins }] }) });
}
http.close();
const refreshBody = join(tmp, 'refresh.json');
writeFileSync(refreshBody, JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': ids[0] } }));

const origin = (port: number) => `https://127.0.0.1:${port}`;
/** CPU seconds a process has used (user + system), from /proc. */
const cpuS = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const rps: Record<string, number[]> = { 'bare-refresh': [], 'mnat-refresh': [], 'bare-get': [], 'mnat-get': [] };
const ratios: Record<'refresh' | 'get', number[]> = { refresh: [], get: [] };
// Server CPU per request, bare/mnat: the throughput ratio a CPU-bound server would show, less
// sensitive to what else the shared machine runs during one h2load run.
const cpuRatios: Record<'refresh' | 'get', number[]> = { refresh: [], get: [] };
for (let round = 1; round <= ROUNDS; round++) {
  // Alternate which server goes first, so a drift of the machine's load does not favour one.
  const order = round % 2 ? (['bare', 'mnat'] as const) : (['mnat', 'bare'] as const);
  const r: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  for (const kind of ['refresh', 'get'] as const) {
    for (const name of order) {
      const port = name === 'bare' ? bare.port : mnat.port;
      const pid = (name === 'bare' ? bare.proc.pid : mnat.proc.pid) as number;
      const c0 = cpuS(pid);
      const res =
        kind === 'refresh'
          ? h2load(['-n', String(REQUESTS), '-d', refreshBody, '-H', 'content-type: application/yang-data+json', `${origin(port)}/restconf/operations/ietf-mnat:refresh-watcher-id`])
          : h2load(['-n', String(REQUESTS), ...ids.slice(0, 50).map((id) => `${origin(port)}/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`)]);
      if (res.ok !== res.total) console.log(`round ${round} ${name} ${kind}: only ${res.ok}/${res.total} 2xx`);
      r[`${name}-${kind}`] = res.rps;
      cpu[`${name}-${kind}`] = cpuS(pid) - c0;
      rps[`${name}-${kind}`]!.push(res.rps);
    }
    ratios[kind].push(r[`mnat-${kind}`]! / r[`bare-${kind}`]!);
    cpuRatios[kind].push(cpu[`bare-${kind}`]! / cpu[`mnat-${kind}`]!);
  }
  console.log(
    `round ${round}: refresh POST mnat ${r['mnat-refresh']!.toFixed(0)} / bare ${r['bare-refresh']!.toFixed(0)} req/s = ${ratios.refresh.at(-1)!.toFixed(2)};` +
      `  assigned-channels GET mnat ${r['mnat-get']!.toFixed(0)} / bare ${r['bare-get']!.toFixed(0)} req/s = ${ratios.get.at(-1)!.toFixed(2)}` +
      `  (server CPU per request, bare/mnat: refresh ${cpuRatios.refresh.at(-1)!.toFixed(2)}, GET ${cpuRatios.get.at(-1)!.toFixed(2)})`,
  );
}
for (const kind of ['refresh', 'get'] as const) {
  const what = kind === 'refresh' ? 'refresh POST' : 'assigned-channels GET';
  console.log(
    `${what}: median ratio ${median(ratios[kind]).toFixed(2)} (rounds ${ratios[kind].map((x) => x.toFixed(2)).join(', ')}); median mnat ${median(rps[`mnat-${kind}`]!).toFixed(0)} req/s, bare ${median(rps[`bare-${kind}`]!).toFixed(0)} req/s; ` +
      `server CPU per request bare/mnat: median ${median(cpuRatios[kind]).toFixed(2)} (rounds ${cpuRatios[kind].map((x) => x.toFixed(2)).join(', ')})`,
  );
}
console.log(`h2load ${H2LOAD.join(' ')} -n ${REQUESTS}, TLS (h2), one server process each, ${ROUNDS} rounds, ${process.env.BENCH_NOTE ?? 'machine shared with other work'}`);
process.exit(0);
