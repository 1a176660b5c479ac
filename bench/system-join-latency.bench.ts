// End-to-end join-to-first-packet latency of the whole MNAT system: a LAN host
// joins a global (Sg,Gg) that nobody receives yet; measured in the host from
// its join to the first packet of the global stream. In between: IGMPv3 report
// -> CPE br-lan snooping -> mnat-egress -> PUT to mnat-server (HTTP/2, TLS,
// client certificates) -> mapping allocated -> pushed to mnat-ingress (SSE) ->
// ingress translator rule + upstream join -> sender's packets translated G->L
// -> ISP core snooping bridge (after the egress's WAN join) -> egress
// translator L->G -> br-lan -> host. Every join is a new channel.
// Run as root: node --import ./build/ts-loader.mjs bench/system-join-latency.bench.ts [joins=60] [qjs|node]
import { MnatLab } from '../lab/mnat-lab.ts';
import { benchCleanup, pct } from './bench-support.ts';
import { JOIN_SOURCE, measureJoins } from './system-joins.ts';

const joins = Number(process.argv[2] ?? 60);
const runtime = (process.argv[3] ?? 'auto') as 'qjs' | 'node' | 'auto';
const SOURCE = JOIN_SOURCE;

const { t, run: cleanUp } = benchCleanup();
try {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, gracePeriodS: 1, egressRuntime: runtime });
  await m.startAll();
  const { groups, lat, failures, joinedAt } = await measureJoins(m, joins, SOURCE);
  // Where the time goes, from the agents' log timestamps (one machine, one clock):
  // the egress sees the LAN join, the ingress has translated + joined, the egress has translated.
  const when = (lines: readonly string[], pattern: (g: string) => RegExp, g: string): number | null => {
    const re = pattern(g);
    const line = lines.find((l) => re.test(l));
    const ts = line ? /^ts=(\S+)/.exec(line)?.[1] : undefined;
    return ts ? Date.parse(ts) : null;
  };
  const esc = (g: string): string => g.replace(/\./g, '\\.');
  const steps: Record<string, number[]> = { 'egress saw the LAN join': [], 'ingress translating + joined': [], 'egress translating': [] };
  for (const g of groups) {
    const t0 = joinedAt.get(g)!;
    const seen = when(m.egress[0]!.lines, (x) => new RegExp(`msg="LAN joined" channel=\\(${SOURCE.replace(/\./g, '\\.')},${esc(x)}\\)`), g);
    const ing = when(m.ingress!.lines, (x) => new RegExp(`msg="join \\(${SOURCE.replace(/\./g, '\\.')},${esc(x)}\\) on`), g);
    const egr = when(m.egress[0]!.lines, (x) => new RegExp(`msg="translate \\([^)]*\\) -> \\(${SOURCE.replace(/\./g, '\\.')},${esc(x)}\\)`), g);
    if (seen !== null) steps['egress saw the LAN join']!.push(seen - t0);
    if (ing !== null) steps['ingress translating + joined']!.push(ing - t0);
    if (egr !== null) steps['egress translating']!.push(egr - t0);
  }
  const r = (n: number): string => `${Math.round(n)} ms`;
  process.stdout.write(
    `system join-to-first-packet (egress under ${m.egressRuntime}, ingress under Node, TLS+mTLS, push): ` +
      `n=${lat.length} failures=${failures} p50=${r(pct(lat, 50))} p90=${r(pct(lat, 90))} p99=${r(pct(lat, 99))} max=${r(Math.max(...lat))} min=${r(Math.min(...lat))}\n`,
  );
  for (const [name, xs] of Object.entries(steps)) {
    process.stdout.write(`  after the join: ${name.padEnd(30)} p50=${r(pct(xs, 50))} p99=${r(pct(xs, 99))} (n=${xs.length})\n`);
  }
  process.stdout.write(`  after the join: ${'first packet at the host'.padEnd(30)} p50=${r(pct(lat, 50))} p99=${r(pct(lat, 99))}\n`);
} finally {
  await cleanUp();
}
