// Bump-in-the-host: application open() → first datagram of the global channel,
// on a host in the ISP core with no CPE agent, with and without DNS-SD
// discovery (alternating in one run, each open a new channel, so each pays the
// whole path: discovery (dnsmasq: PTR, SRV, A/AAAA, TXT) → watcher id → PUT of
// the join (HTTP/2, TLS, client certificate) → allocation → push to the
// ingress (rule + upstream join) and to the application → SSM join on the core
// host → first datagram).
// Run as root: node --import ./build/ts-loader.mjs bench/receiver-open.bench.ts [opens=60]
import { nodeArgv } from '../lab/lab.ts';
import { withResolvConf } from '../lab/lab-dns.ts';
import { MnatLab, MNAT_SERVER_NAME, SERVER_PORT } from '../lab/mnat-lab.ts';
import { benchCleanup, pct } from './bench-support.ts';

const opens = Number(process.argv[2] ?? 60);
const SOURCE = '23.212.185.4';
const POOL = { 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/24', 'source-range': '10.0.0.128/26', exclude: [{ 'groupex-range': '232.255.0.0/30' }] }] } };

const { t, run: cleanUp } = benchCleanup();
try {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, gracePeriodS: 1, pool: POOL });
  await m.startServer();
  await m.startIngress();
  const resolvConf = await m.startDns();
  const h = await m.addCoreHost(1);
  const tx = m.topo.sender.ns.spawn(nodeArgv('bench/system-sender.ts', ['--source', SOURCE, '--base', '232.2.0.0', '--count', String(opens), '--interval-ms', '5']));
  await tx.waitForJson((e) => e.event === 'started');
  const app = h.ns.spawn(
    withResolvConf(resolvConf, nodeArgv('bench/receiver-open-app.ts', ['--source', SOURCE, '--base', '232.2.0.0', '--count', String(opens), '--server', `https://${MNAT_SERVER_NAME}:${SERVER_PORT}`, ...m.appTlsArgs()])),
    { label: 'receiver-open-app' },
  );
  await app.waitForJson((e) => e.event === 'done', opens * 15_000);
  const rows = app.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const of = (mode: string, field: string): number[] => rows.filter((r) => r.event === 'opened' && r.mode === mode).map((r) => Number(r[field]));
  const failed = rows.filter((r) => r.event === 'failed');
  const r = (n: number): string => `${n.toFixed(0)} ms`;
  const line = (name: string, xs: number[]): string => `${name.padEnd(48)} n=${xs.length} p50=${r(pct(xs, 50))} p99=${r(pct(xs, 99))} min=${r(Math.min(...xs))} max=${r(Math.max(...xs))}`;
  process.stdout.write(`receiver open → first datagram (core host, no CPE agent, TLS + client certificate, push), failures=${failed.length}\n`);
  process.stdout.write(`  ${line('discovery included (DNS-SD via dnsmasq)', of('dns-sd', 'ms'))}\n`);
  process.stdout.write(`  ${line('discovery excluded (server given)', of('given', 'ms'))}\n`);
  process.stdout.write(`  ${line('  open() resolved (DNS-SD done, watcher started)', of('dns-sd', 'serverKnownMs'))}\n`);
  for (const f of failed.slice(0, 3)) process.stdout.write(`  failed: ${JSON.stringify(f)}\n`);
} finally {
  await cleanUp();
}
