// Convergence of the whole MNAT system under a burst: 20 LAN hosts on 2 CPEs
// join 50 global channels between them at the same instant (60 host-channel
// pairs: every channel once, and 10 of them on both CPEs). Measured per pair in
// the host, from its join to its first packet of the global stream; the burst
// converges when the last pair receives. Repeated for several rounds (leave,
// grace, join again) to gather samples. Goal: p99 < 300 ms.
// Run as root: node --import ./build/ts-loader.mjs bench/system-convergence.bench.ts [rounds=3] [qjs|node]
import { mkdirSync, writeFileSync } from 'node:fs';
import { nodeArgv, type LabProcess } from '../lab/lab.ts';
import { MnatLab, waitFor } from '../lab/mnat-lab.ts';
import { readTranslatorRules } from '../lab/translator-view.ts';
import { benchCleanup, pct } from './bench-support.ts';

const rounds = Number(process.argv[2] ?? 3);
const runtime = (process.argv[3] ?? 'auto') as 'qjs' | 'node' | 'auto';
const SOURCE = '23.212.185.4';
const CHANNELS = 50;
const HOSTS_PER_CPE = 10;
const group = (i: number): string => `232.3.0.${i}`;

const { t, run: cleanUp } = benchCleanup();
try {
  const m = await MnatLab.create(t, { cpes: 2, hostsPerCpe: HOSTS_PER_CPE, gracePeriodS: 1, egressRuntime: runtime });
  await m.startAll();
  const tx = m.topo.sender.ns.spawn(nodeArgv('bench/system-sender.ts', ['--source', SOURCE, '--base', group(0), '--count', String(CHANNELS), '--interval-ms', '5']));
  await tx.waitForJson((e) => e.event === 'started');

  // Host k (0..19): CPE 1 for k < 10, CPE 2 otherwise; channels k, k+20, k+40 (< 50); CPE 2's hosts also take k-10.
  const plan: Array<{ rx: LabProcess; groups: string[]; name: string }> = [];
  for (let k = 0; k < 2 * HOSTS_PER_CPE; k++) {
    const cpe = k < HOSTS_PER_CPE ? 1 : 2;
    const host = m.host(cpe, (k % HOSTS_PER_CPE) + 1);
    const idx = [k, k + 20, k + 40].filter((i) => i < CHANNELS);
    if (cpe === 2) idx.push(k - HOSTS_PER_CPE);
    const groups = idx.map(group);
    const rx = host.ns.spawn(nodeArgv('bench/system-receiver.ts', ['--source', SOURCE, '--interface', host.dev, ...groups.flatMap((g) => ['--group', g])]));
    plan.push({ rx, groups, name: `h${cpe}.${(k % HOSTS_PER_CPE) + 1}` });
  }
  await Promise.all(plan.map((p) => p.rx.waitForJson((e) => e.event === 'ready', 30_000)));
  const pairs = plan.reduce((n, p) => n + p.groups.length, 0);

  const all: number[] = [];
  const totals: number[] = [];
  let failures = 0;
  for (let round = 0; round < rounds; round++) {
    const marks = plan.map((p) => p.rx.lines.length);
    const joined = await Promise.all(plan.map((p) => p.rx.ask('join', (e) => e.event === 'joined')));
    const burstStart = Math.min(...joined.map((j) => Number(j.at)));
    // Per pair: [latency from that host's join, absolute time of the first packet].
    const results = await Promise.all(
      plan.flatMap((p, i) =>
        p.groups.map((g) =>
          p.rx
            .waitForJson((e) => e.event === 'first' && e.group === g, 10_000, marks[i])
            .then((e) => [Number(e.t) - Number(joined[i]!.at), Number(e.t)] as const)
            .catch(() => null),
        ),
      ),
    );
    const got = results.filter((x): x is readonly [number, number] => x !== null);
    const ok = got.map(([lat]) => lat);
    failures += results.length - ok.length;
    all.push(...ok);
    // The burst has converged when the last pair got its first packet, counted from the first join.
    totals.push(Math.max(...got.map(([, at]) => at)) - burstStart);
    process.stdout.write(`round ${round + 1}: ${ok.length}/${results.length} pairs received; p50 ${Math.round(pct(ok, 50))} ms, p99 ${Math.round(pct(ok, 99))} ms, last ${Math.round(Math.max(...ok))} ms\n`);
    for (const p of plan) p.rx.write('leave');
    // Let the server release everything (grace 1 s) so the next round allocates afresh.
    await waitFor(async () => (await m.serverMappings()).length === 0, 20_000, 'all mappings released', 200);
    // ...and the agents to have torn everything down, so the next burst starts from nothing.
    await waitFor(async () => (await readTranslatorRules(m)).length === 0, 20_000, 'no translator rule left', 200);
  }
  process.stdout.write(
    `system convergence (20 hosts on 2 CPEs, 50 channels, ${pairs} host-channel pairs, egress under ${m.egressRuntime}): ` +
      `rounds=${rounds} samples=${all.length} failures=${failures} p50=${Math.round(pct(all, 50))} ms p99=${Math.round(pct(all, 99))} ms ` +
      `max=${Math.round(Math.max(...all))} ms; whole burst converged in ${totals.map((x) => `${Math.round(x)} ms`).join(', ')}\n`,
  );
  // MNAT_BENCH_LOGS=DIR keeps the agents' and the server's logs, to see where the time goes.
  const logs = process.env.MNAT_BENCH_LOGS;
  if (logs) {
    mkdirSync(logs, { recursive: true });
    const named: Array<[string, LabProcess | null]> = [['server', m.server], ['ingress', m.ingress], ...m.egress.map((e, i) => [`egress${i + 1}`, e] as [string, LabProcess | null])];
    for (const [name, p] of named) if (p) writeFileSync(`${logs}/${name}.log`, p.lines.join('\n') + '\n');
    writeFileSync(`${logs}/hosts.log`, plan.map((p) => p.rx.lines.map((l) => `${p.name} ${l}`).join('\n')).join('\n') + '\n');
  }
} finally {
  await cleanUp();
}
