// Upstream-join latencies in the reference lab, per backend and family:
//   join → (S,G) entry in the core's snooping table, join → first datagram at the CPE,
//   leave → entry gone, leave → last datagram. Also the lab build time.
// Run as root: node --import ./build/ts-loader.mjs bench/upstream-join.bench.ts [rounds]
import { createLab, nodeArgv, mdbHasChannel, type LabProcess } from '../lab/lab.ts';
import { buildTopology } from '../lab/topology.ts';
import { startSmcrouted } from '../lab/smcroute.ts';

const rounds = Number(process.argv[2] ?? 5);
const RATE = 1000; // pps: 1 ms resolution on first/last datagram
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const lab = await createLab();
try {
  const t0 = performance.now();
  const topo = await buildTopology(lab, { cpes: 1, hostsPerCpe: 1 });
  console.log(`lab build (1 CPE, 1 LAN host, 6 namespaces, 3 snooping bridges): ${Math.round(performance.now() - t0)} ms`);
  const cpe = topo.cpes[0]!;
  const smc = await startSmcrouted(cpe.ns);
  for (const backend of ['socket', 'smcroute'] as const) {
    const args = ['--backend', backend, ...(backend === 'smcroute' ? ['--smcroute-socket', smc.socketPath] : [])];
    const agent = cpe.ns.spawn(nodeArgv('lab/join-agent.ts', args));
    await agent.waitForJson((e) => e.event === 'ready');
    for (const v of [4, 6] as const) {
      const src = v === 4 ? topo.ingress.core.ipv4 : topo.ingress.core.ipv6;
      const group = v === 4 ? '232.30.0.1' : 'ff3e::30:1';
      const tx = topo.ingress.ns.spawn(nodeArgv('lab/traffic/sender.ts', ['--group', group, '--source', src, '--interface', 'core0', '--rate', String(RATE)]));
      await tx.waitForJson((e) => e.event === 'started');
      const m = { joinMdb: [] as number[], joinFirst: [] as number[], leaveMdb: [] as number[], leaveLast: [] as number[] };
      for (let r = 0; r < rounds; r++) {
        const rx: LabProcess = cpe.ns.spawn(nodeArgv('lab/traffic/receiver.ts', ['--group', group, '--no-join']));
        await rx.waitForJson((e) => e.event === 'ready');
        const tj = Date.now();
        const ans = await agent.ask(JSON.stringify({ op: 'join', source: src, group, device: 'wan' }), (e) => e.event === 'done' || e.event === 'error');
        if (ans.event === 'error') throw new Error(String(ans.message));
        await topo.core.ns.waitForMdbChannel('br-core', cpe.corePort, src, group);
        m.joinMdb.push(Date.now() - tj);
        const first = await rx.waitForJson((e) => e.event === 'first-packet');
        m.joinFirst.push(Number(first.t) - tj);
        const tl = Date.now();
        await agent.ask(JSON.stringify({ op: 'leave', source: src, group, device: 'wan' }), (e) => e.event === 'done');
        await topo.core.ns.waitForMdb('br-core', (e) => !mdbHasChannel(e, cpe.corePort, src, group));
        m.leaveMdb.push(Date.now() - tl);
        // The last datagram: wait until no new one for 20 periods, then read lastAt.
        let last = Number((await rx.ask('stats', (e) => e.event === 'stats')).lastAt);
        for (;;) {
          await new Promise((res) => setTimeout(res, (20 * 1000) / RATE));
          const now = Number((await rx.ask('stats', (e) => e.event === 'stats')).lastAt);
          if (now === last) break;
          last = now;
        }
        m.leaveLast.push(last - tl);
        await rx.kill();
      }
      await tx.kill();
      console.log(
        `${backend.padEnd(8)} IPv${v}: join→table ${median(m.joinMdb)} ms, join→first datagram ${median(m.joinFirst)} ms, ` +
          `leave→table entry gone ${median(m.leaveMdb)} ms, leave→last datagram ${median(m.leaveLast)} ms (median of ${rounds}, ${RATE} pps)`,
      );
    }
    await agent.kill();
  }
} finally {
  await lab.destroy();
}
