// Request rates of mnat-server against a bare node:http2 server (answers 204)
// in the same run, measured with h2load over TLS: shared by
// bench/server-throughput.bench.ts (the embedded server) and
// bench/region-throughput.bench.ts (front ends of a region).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeHttpTransport } from '../src/host/node-http.ts';

export const ROOT = new URL('..', import.meta.url).pathname;
export const H2LOAD = ['-c', '16', '-m', '16', '-t', '1'];

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

export function h2load(args: string[]): { rps: number; ok: number; total: number; line: string } {
  const r = spawnSync('h2load', [...H2LOAD, ...args], { encoding: 'utf8' });
  const text = r.stdout + r.stderr;
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN);
  const m = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded/.exec(text);
  const codes = /status codes: (\d+) 2xx/.exec(text);
  return { rps, ok: Number(codes?.[1] ?? 0), total: Number(m?.[1] ?? 0), line: /finished in .*/.exec(text)?.[0] ?? text.slice(-400) };
}

/** The bare node:http2 server (bench/bare-h2-server.mjs). */
export function startBare(certs: string): Promise<{ port: number; proc: ChildProcess }> {
  return startProcess([join(ROOT, 'bench/bare-h2-server.mjs'), join(certs, 'server.pem'), join(certs, 'server.key')], /port (\d+)/);
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

/**
 * Three rounds; in each, h2load against the bare server and then each mnat
 * server: refresh POSTs (of `refreshId`) and assigned-channels GETs (of the
 * first 50 ids). Prints each round, the per-round ratios and the best of 3.
 */
export function compareWithBare(tmp: string, requests: number, barePort: number, servers: Array<{ name: string; port: number; ids: string[] }>): void {
  const origin = (port: number): string => `https://127.0.0.1:${port}`;
  const best: Record<string, number> = {};
  const ratios: Record<string, string[]> = {};
  const bodies = new Map<string, string>();
  for (const s of servers) {
    const file = join(tmp, `refresh-${s.name}.json`);
    writeFileSync(file, JSON.stringify({ 'ietf-mnat:input': { 'watcher-id': s.ids[0] } }));
    bodies.set(s.name, file);
  }
  const run = (name: string, port: number, ids: string[], body: string): { refresh: number; get: number } => {
    const refresh = h2load(['-n', String(requests), '-d', body, '-H', 'content-type: application/yang-data+json', `${origin(port)}/restconf/operations/ietf-mnat:refresh-watcher-id`]);
    const get = h2load(['-n', String(requests), ...ids.slice(0, 50).map((id) => `${origin(port)}/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`)]);
    console.log(`  ${name.padEnd(10)} refresh POST: ${refresh.rps.toFixed(0)} req/s (${refresh.ok}/${refresh.total} 2xx)   assigned-channels GET: ${get.rps.toFixed(0)} req/s (${get.ok}/${get.total} 2xx)`);
    best[`${name}-refresh`] = Math.max(best[`${name}-refresh`] ?? 0, refresh.rps);
    best[`${name}-get`] = Math.max(best[`${name}-get`] ?? 0, get.rps);
    return { refresh: refresh.rps, get: get.rps };
  };
  for (const round of [1, 2, 3]) {
    console.log(`round ${round}`);
    const first = servers[0] as { ids: string[]; name: string };
    const bare = run('bare', barePort, first.ids, bodies.get(first.name) as string);
    for (const s of servers) {
      const r = run(s.name, s.port, s.ids, bodies.get(s.name) as string);
      (ratios[`${s.name} refresh`] ??= []).push((r.refresh / bare.refresh).toFixed(2));
      (ratios[`${s.name} GET`] ??= []).push((r.get / bare.get).toFixed(2));
    }
  }
  console.log(`per-round ratios (mnat/bare, same round): ${Object.entries(ratios).map(([k, v]) => `${k} ${v.join(', ')}`).join('; ')}`);
  for (const s of servers) {
    for (const what of ['refresh', 'get'] as const) {
      const label = what === 'refresh' ? 'refresh POST' : 'assigned-channels GET';
      console.log(`best of 3: ${label} ${s.name} ${best[`${s.name}-${what}`]!.toFixed(0)} vs bare ${best[`bare-${what}`]!.toFixed(0)} req/s → ratio ${(best[`${s.name}-${what}`]! / best[`bare-${what}`]!).toFixed(2)}`);
    }
  }
  console.log(`h2load ${H2LOAD.join(' ')} -n ${requests}, TLS (h2), one server process each, ${process.env.BENCH_NOTE ?? 'machine shared with other work'}`);
}
