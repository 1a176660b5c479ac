// Footprint of mnat-egress with 32 active channels: resident memory of the
// agent process (and of its helper children: curl for the push stream,
// `bridge monitor`, `ip monitor`), CPU used while nothing changes, and the
// QuickJS bundle size. The channels come from a control file plus the
// snooping table (both inputs live, as on a router).
// Run as root: node --import ./build/ts-loader.mjs bench/egress-footprint.bench.ts [qjs|node] [idle-seconds=60]
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEgressLab, egressQjsBundle, eventually } from '../lab/egress-lab.ts';

const runtime = (process.argv[2] ?? 'qjs') as 'node' | 'qjs';
const idleS = Number(process.argv[3] ?? 60);
const CHANNELS = 32;
const afters: Array<() => unknown> = [];
const t = { after: (fn: () => unknown) => void afters.push(fn) };
const TICK = 100; // USER_HZ

function stat(pid: number): { ppid: number; cpuTicks: number; childTicks: number; comm: string } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' ');
    return { ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]), comm: s.slice(s.indexOf('(') + 1, close) };
  } catch {
    return null;
  }
}
function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
function descendants(root: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(Number(d));
    if (s) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), Number(d)]);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of byParent.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}
const cpuOf = (pids: number[]): number => pids.reduce((sum, p) => sum + (stat(p)?.cpuTicks ?? 0), 0);

try {
  const el = await createEgressLab(t, { runtime });
  const control = join(el.dir, 'channels');
  writeFileSync(control, Array.from({ length: CHANNELS }, (_, i) => `198.51.100.2,232.1.5.${i + 1}`).join('\n') + '\n');
  await el.startEgress(['--membership', 'both', '--control-file', control, '--log-level', 'info']);
  await eventually(() => {
    const s = el.status();
    const ch = (s?.channels ?? []) as Array<{ status: string }>;
    return ch.filter((c) => c.status === 'active').length === CHANNELS ? s : null;
  }, `${CHANNELS} active channels`, 60_000);
  const pid = el.egress.pid;
  const self = stat(pid);
  await new Promise((r) => setTimeout(r, 3000)); // let start-up work settle
  const kids = descendants(pid);
  const rss = rssKiB(pid);
  const kidRss = kids.map((k) => `${stat(k)?.comm ?? '?'} ${rssKiB(k)} KiB`);
  console.log(`${runtime}: ${self?.comm} pid ${pid} with ${CHANNELS} channels: RSS ${(rss / 1024).toFixed(2)} MiB; children: ${kidRss.join(', ') || 'none'}`);
  // Agent + reaped tool runs (bpftool, curl, bridge, ip) + helpers still running.
  const total = (): number => {
    const me = stat(pid)!;
    return me.cpuTicks + me.childTicks + cpuOf(descendants(pid));
  };
  const before = total();
  const beforeSelf = stat(pid)!.cpuTicks;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, idleS * 1000));
  const secs = (Date.now() - t0) / 1000;
  const self1 = stat(pid)!.cpuTicks - beforeSelf;
  const all1 = total() - before;
  const rate = (ticks: number): string => `${((ticks * 1000) / TICK / secs).toFixed(1)} ms CPU/s (${((ticks / TICK / secs) * 100).toFixed(2)} %)`;
  console.log(`${runtime}: idle ${secs.toFixed(0)} s with ${CHANNELS} channels: agent alone ${rate(self1)}; agent + every tool it ran + helpers ${rate(all1)}`);
  if (runtime === 'qjs') console.log(`bundle ${(statSync(await egressQjsBundle()).size / 1024).toFixed(1)} KiB`);
  await el.egress.kill('SIGTERM');
} finally {
  for (const fn of afters.reverse()) await fn();
}
