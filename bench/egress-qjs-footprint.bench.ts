// Footprint of mnat-egress under the real qjs with N active channels (default
// 32): resident memory of the qjs process, and CPU over an idle window (no
// membership change: only the protocol's watcher refreshes, each one a curl
// child). The channels come from a control file; the server, translator and
// smcroute joins are real (the egress lab: namespaces, HTTP/2 + TLS).
// Run as root: node --import ./build/ts-loader.mjs bench/egress-qjs-footprint.bench.ts [channels=32] [idle-seconds=30]
// (MNAT_QJS=<a qjs from build/qjs.sh> measures another QuickJS version or libc, e.g. the router's musl build)
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleQuickjs } from '../build/qjs-bundle.mjs';
import { REPO_ROOT } from '../lab/lab.ts';
import { createEgressLab, describeQjs, eventually, QJS } from '../lab/egress-lab.ts';

const channels = Number(process.argv[2] ?? 32);
const idleS = Number(process.argv[3] ?? 30);
const afters: Array<() => unknown> = [];
const t = { after: (fn: () => unknown) => void afters.push(fn) };
const TICK_MS = 10; // USER_HZ = 100 on Linux

interface Sample {
  rssKiB: number;
  hwmKiB: number;
  ticks: number; // utime + stime of qjs itself
  childTicks: number; // cutime + cstime: reaped children (curl, tc, bpftool, smcroutectl)
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const n = (i: number): number => Number(fields[i - 3]);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), ticks: n(14) + n(15), childTicks: n(16) + n(17) };
}

try {
  const bundleBytes = await bundleQuickjs(join(REPO_ROOT, 'src/egress/main-qjs.ts'), join(tmpdir(), `mnat-footprint-${process.pid}.js`));
  const el = await createEgressLab(t, {
    runtime: 'qjs',
    pool: { 'group-pool': { ranges: [{ 'group-range': '239.78.0.0/24', 'source-range': '10.0.0.1/32' }] } },
  });
  const file = join(el.dir, 'channels');
  const lines = Array.from({ length: channels }, (_, i) => `198.51.100.2,232.7.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  writeFileSync(file, lines.join('\n') + '\n');
  await el.startEgress(['--control-file', file, '--max-channels', String(Math.max(64, channels))]);
  await eventually(() => {
    const s = el.status() as { channels?: Array<{ status: string }> } | null;
    return (s?.channels ?? []).filter((c) => c.status === 'active').length === channels ? true : null;
  }, `${channels} active channels`, 60_000);
  const pid = el.egress.pid;
  const before = sample(pid);
  const started = Date.now();
  await new Promise((r) => setTimeout(r, idleS * 1000));
  const after = sample(pid);
  const elapsedS = (Date.now() - started) / 1000;
  const ownCpu = ((after.ticks - before.ticks) * TICK_MS) / 1000;
  const childCpu = ((after.childTicks - before.childTicks) * TICK_MS) / 1000;
  const result = {
    runtime: `qjs (${describeQjs()}, x86-64; ${QJS})`,
    channels,
    bundleKiB: +(bundleBytes / 1024).toFixed(1),
    rssKiB: after.rssKiB,
    peakRssKiB: after.hwmKiB,
    idleSeconds: +elapsedS.toFixed(1),
    qjsCpuSeconds: +ownCpu.toFixed(2),
    qjsCpuPercent: +((100 * ownCpu) / elapsedS).toFixed(3),
    childCpuSeconds: +childCpu.toFixed(2),
    note: 'child CPU = curl for watcher refreshes (every 5 s in the lab; 10 s by default) and any tool runs',
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  for (const fn of afters.reverse()) await fn();
  rmSync(join(tmpdir(), `mnat-footprint-${process.pid}.js`), { force: true });
}
