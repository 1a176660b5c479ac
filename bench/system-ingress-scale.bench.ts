// How fast mnat-ingress programs a burst of assignments: an egress watcher
// (the real WatcherClient, no data plane) joins N global channels at once;
// measured from that PUT to the ingress having every (Sg,Gg)->(Sl,Gl) rule in
// the kernel and every upstream membership made (from the ingress's own log
// timestamps), for growing N. The ingress programs a burst as one translator
// batch and spreads memberships over sockets by the kernel's per-socket limits.
// Run as root: node --import ./build/ts-loader.mjs bench/system-ingress-scale.bench.ts [50,250,800]
// (one egress watcher PUT carries at most about 900 joins: the server takes bodies up to 64 KiB)
import { nodeArgv } from '../lab/lab.ts';
import { MnatLab, waitFor } from '../lab/mnat-lab.ts';
import { readInstance } from '../lab/translator-view.ts';
import { benchCleanup } from './bench-support.ts';

const sizes = (process.argv[2] ?? '50,250,800').split(',').map(Number);
const SOURCE = '23.212.185.4';
const { t, run: cleanUp } = benchCleanup();
try {
  const max = Math.max(...sizes);
  const m = await MnatLab.create(t, {
    cpes: 1,
    hostsPerCpe: 1,
    gracePeriodS: 0,
    pool: { 'group-pool': { ranges: [{ 'group-range': '232.254.0.0/16', 'source-range': '10.0.0.0/24' }] } },
    serverExtraArgs: ['--max-joins-per-watcher', String(max)],
  });
  await m.startServer();
  await m.startIngress();
  const cpe = m.topo.cpes[0]!;
  const c = m.certs.clients['cpe1']!;
  const eg = cpe.ns.spawn(nodeArgv('bench/system-egress-client.ts', ['--server', m.topo.core.ipv4, '--port', '8443', '--cacert', m.certs.ca, '--cert', c.cert, '--key', c.key]));
  await eg.waitForJson((e) => e.event === 'status' && e.connected === true, 15_000);
  for (const n of sizes) {
    const mark = m.ingress!.lines.length;
    const egMark = eg.lines.length;
    const set = await eg.ask(`joins ${n} 232.4.0.0 ${SOURCE}`, (e) => e.event === 'joins-set');
    const t0 = Number(set.t);
    const assignedAt = Number((await eg.waitForJson((e) => e.event === 'assigned' && Number(e.n) === n, 60_000, egMark)).t);
    const joins = await waitFor(() => {
      const lines = m.ingress!.lines.slice(mark).filter((l) => /msg="join \(/.test(l));
      return lines.length >= n ? lines : null;
    }, 120_000, `${n} upstream joins at the ingress`, 20);
    const lastTs = Date.parse(/^ts=(\S+)/.exec(joins[joins.length - 1]!)![1]!);
    const rules = (await readInstance('ingress', `${m.pinRoot}/ingress`)).length;
    const mcfilter = (await m.topo.ingress.ns.run(['cat', '/proc/net/mcfilter'])).split('\n').filter((l) => l.includes('up0')).length;
    process.stdout.write(
      `ingress burst of ${String(n).padStart(5)} channels: egress PUT -> all assigned at the egress ${assignedAt - t0} ms; ` +
        `-> ingress has every rule and join ${lastTs - t0} ms; kernel: ${rules} rules, ${mcfilter} memberships on up0\n`,
    );
    // Release everything before the next size.
    await eg.ask(`joins 0 232.4.0.0 ${SOURCE}`, (e) => e.event === 'joins-set');
    await waitFor(async () => (await readInstance('ingress', `${m.pinRoot}/ingress`)).length === 0, 120_000, 'the ingress to drop every rule', 100);
  }
} finally {
  await cleanUp();
}
