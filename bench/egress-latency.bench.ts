// Join-to-first-packet latency of mnat-egress: a LAN host joins (Sg,Gg) with a
// real socket; measured from the receiver's join to the first translated
// datagram it gets. In between: IGMPv3 report → br-lan snooping table →
// `bridge monitor` → egress → PUT to the real mnat-server (HTTP/2 + TLS) →
// assignment pushed (SSE) or answered to a long poll → translator rule + WAN
// join → core bridge forwards (Sl,Gl) → BPF translation → host. A pool sender
// keeps every local group of a 16-group pool busy every 2 ms (the ingress side).
// Run as root: node --import ./build/ts-loader.mjs bench/egress-latency.bench.ts [joins=50] [node|qjs] [nofile]
// nofile (e.g. 1024, OpenWrt's default) runs the egress under that open-files
// limit: QuickJS's os.exec closes every descriptor up to it in each child.
import { readdirSync } from 'node:fs';
import { nodeArgv } from '../lab/lab.ts';
import { createEgressLab, isEvent, RX } from '../lab/egress-lab.ts';

const joins = Number(process.argv[2] ?? 50);
const runtime = (process.argv[3] ?? 'node') as 'node' | 'qjs';
const nofile = process.argv[4];
const afters: Array<() => unknown> = [];
const t = { after: (fn: () => unknown) => void afters.push(fn) };
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

try {
  const el = await createEgressLab(t, {
    runtime,
    ...(nofile ? { egressPrefix: ['prlimit', `--nofile=${nofile}:${nofile}`, '--'] } : {}),
    serverArgs: ['--grace-period', '1'],
    pool: { 'group-pool': { ranges: [{ 'group-range': '239.77.0.0/28', 'source-range': '10.0.0.1/32' }] } },
  });
  const cpe = el.topo.cpes[0]!;
  const tx = el.topo.ingress.ns.spawn(nodeArgv('bench/egress-pool-sender.ts', ['--base', '239.77.0.0', '--count', '16', '--interval-ms', '2', '--interface', 'core0']));
  await tx.waitForJson(isEvent('started'));
  const results: Record<string, number[]> = {};
  const modes = (process.env.MODES ?? 'push,long-poll').split(',') as Array<'push' | 'long-poll'>;
  for (const mode of modes) {
    await el.startEgress(mode === 'push' ? [] : ['--no-push']);
    await el.egress.waitForLine(/server connected/, 15_000);
    const lat: number[] = [];
    let failures = 0;
    for (let i = 0; i < joins; i++) {
      const group = `232.1.${mode === 'push' ? 3 : 4}.${(i % 250) + 1}`;
      const rx = cpe.hosts[0]!.ns.spawn(nodeArgv(RX, ['--group', group, '--source', '198.51.100.2', '--interface', 'eth0']));
      const from = el.egress.lines.length;
      try {
        const joined = await rx.waitForJson(isEvent('joined'), 10_000);
        const first = await rx.waitForJson(isEvent('first-packet'), 5_000);
        const ms = Number(first.t) - Number(joined.t);
        lat.push(ms);
        if (ms > 250) {
          // Where did the time go? The egress's own log of this join.
          console.log(`  slow join ${i}: ${ms} ms; host joined ${new Date(Number(joined.t)).toISOString()}, first packet ${new Date(Number(first.t)).toISOString()}`);
          for (const l of el.egress.lines.slice(from)) console.log(`    ${l.slice(14, 160)}`);
        }
      } catch (err) {
        if (failures++ === 0) {
          console.log(`  join ${i} failed: ${(err as Error).message.split('\n')[0]}`);
          for (const l of el.egress.lines.slice(Math.max(0, from - 5))) console.log(`    ${l.slice(14, 220)}`);
        }
      }
      const mark = el.egress.lines.length;
      rx.write('leave');
      await el.egress.waitForLine((l) => l.includes('stop translating'), 10_000, mark).catch(async () => {
        if (failures++ === 0) {
          console.log(`  leave ${i}: no "stop translating" within 10 s; snooping table now:`);
          console.log((await cpe.ns.run(['bridge', 'mdb', 'show', 'dev', 'br-lan'])).replace(/^/gm, '    '));
          for (const l of el.egress.lines.slice(Math.max(0, from - 5))) console.log(`    ${l.slice(14, 220)}`);
        }
      });
      await rx.kill();
      if (process.env.SHOW_FDS) console.log(`  after join ${i}: egress has ${readdirSync(`/proc/${el.egress.pid}/fd`).length} open descriptors`);
    }
    results[mode] = lat;
    console.log(
      `${runtime}${nofile ? ` (nofile ${nofile})` : ''} ${mode}: ${lat.length} joins (${failures} failed): p50 ${pct(lat, 50)} ms, p90 ${pct(lat, 90)} ms, p99 ${pct(lat, 99)} ms, max ${Math.max(...lat)} ms, min ${Math.min(...lat)} ms`,
    );
    await el.egress.kill('SIGTERM');
  }
  await tx.kill();
} finally {
  for (const fn of afters.reverse()) await fn();
}
