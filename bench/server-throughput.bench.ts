// Requests per second of mnat-server against a bare node:http2 server that
// answers 204, both over TLS, measured with h2load in the same run on the same
// machine. The ratio is the figure (goal >= 0.5).
// Run: node --import ./build/ts-loader.mjs bench/server-throughput.bench.ts [requests]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodeHttpTransport } from '../src/host/node-http.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const REQUESTS = Number(process.argv[2] ?? 100_000);
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
  ['--import', join(ROOT, 'build/ts-loader.mjs'), join(ROOT, 'src/server/main.ts'), '--listen', '127.0.0.1:0', '--tls-cert', join(certs, 'server.pem'), '--tls-key', join(certs, 'server.key'), '--state-dir', join(tmp, 'state'), '--refresh-period', '65535'],
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
const results: Record<string, number> = {};
const ratios: Record<string, number[]> = { refresh: [], get: [] };
for (const round of [1, 2, 3]) {
  for (const [name, port] of [['bare', bare.port], ['mnat', mnat.port]] as const) {
    const refresh = h2load(['-n', String(REQUESTS), '-d', refreshBody, '-H', 'content-type: application/yang-data+json', `${origin(port)}/restconf/operations/ietf-mnat:refresh-watcher-id`]);
    const get = h2load(['-n', String(REQUESTS), ...ids.slice(0, 50).map((id) => `${origin(port)}/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`)]);
    console.log(`round ${round} ${name.padEnd(4)} refresh POST: ${refresh.rps.toFixed(0)} req/s (${refresh.ok}/${refresh.total} 2xx)   assigned-channels GET: ${get.rps.toFixed(0)} req/s (${get.ok}/${get.total} 2xx)`);
    results[`${name}-refresh`] = Math.max(results[`${name}-refresh`] ?? 0, refresh.rps);
    results[`${name}-get`] = Math.max(results[`${name}-get`] ?? 0, get.rps);
    results[`${name}-refresh-last`] = refresh.rps;
    results[`${name}-get-last`] = get.rps;
  }
  ratios.refresh!.push(results['mnat-refresh-last']! / results['bare-refresh-last']!);
  ratios.get!.push(results['mnat-get-last']! / results['bare-get-last']!);
}
console.log(`per-round ratios (mnat/bare, same round): refresh ${ratios.refresh!.map((r) => r.toFixed(2)).join(', ')}; GET ${ratios.get!.map((r) => r.toFixed(2)).join(', ')}`);
const ratio = (a: number, b: number) => (a / b).toFixed(2);
console.log(`best of 3: refresh POST mnat ${results['mnat-refresh']!.toFixed(0)} vs bare ${results['bare-refresh']!.toFixed(0)} req/s → ratio ${ratio(results['mnat-refresh']!, results['bare-refresh']!)}`);
console.log(`best of 3: assigned-channels GET mnat ${results['mnat-get']!.toFixed(0)} vs bare ${results['bare-get']!.toFixed(0)} req/s → ratio ${ratio(results['mnat-get']!, results['bare-get']!)}`);
console.log(`h2load ${H2LOAD.join(' ')} -n ${REQUESTS}, TLS (h2), one server process each, ${process.env.BENCH_NOTE ?? 'machine shared with other work'}`);
process.exit(0);
