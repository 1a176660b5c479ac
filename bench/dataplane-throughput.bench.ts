// Throughput of the kernel translator versus plain snooped bridge forwarding of
// the same stream, measured in the same run with iperf 2 (multicast SSM), and the
// BPF program's cost per packet (kernel.bpf_stats_enabled run_time_ns / run_cnt).
//
//   translated: snd eth0 --(Sl,Gl)--> cpe wan [tc ingress BPF: rewrite + redirect] --> br-lan --> lan eth0
//   baseline:   snd eth1 --(Sg,Gg)--> cpe wanb (br-lan port, snooping)              --> br-lan --> lan eth0
//
// Both arrive at an iperf server in `lan` joined to (Sg,Gg), one server per run (an
// IPv6 iperf server keeps to its first client). At each offered rate
// the two paths run back to back (so background load hits both alike); the result
// per path is the highest offered rate with < 0.1 % loss and the packets per second
// received there. Run as root:
//   node --import ./build/ts-loader.mjs bench/dataplane-throughput.bench.ts [--seconds 2] [--size 64] [--rates 20000,40000,...]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frame, udpDatagram } from '../test/dataplane/packet.ts';
import { createLab } from '../lab/lab.ts';
import { buildTranslatorLab, MAP4, MAP6, netnsHost } from '../lab/translator-lab.ts';
import { createTranslator, type Translator } from '../src/dataplane/translator.ts';
import { pinnedProgStats } from '../src/dataplane/bpftool.ts';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt;
}
const seconds = Number(flag('seconds', '2'));
const size = Number(flag('size', '64'));
const rates = flag('rates', '10000,20000,40000,60000,80000,100000,130000,160000,200000').split(',').map(Number);
const family = Number(flag('family', '4')) as 4 | 6;
const map = family === 4 ? MAP4 : MAP6;
const LOSS_LIMIT = 0.001;

interface Run {
  offered: number;
  sent: number;
  received: number;
  lossRate: number;
  rxPps: number;
}

const lab = await createLab();
let translatorToDetach: Translator | null = null;
const statsPath = '/proc/sys/kernel/bpf_stats_enabled';
const statsBefore = readFileSync(statsPath, 'utf8').trim();
try {
  const t0 = performance.now();
  const { snd, cpe, lan } = await buildTranslatorLab(lab, { baseline: true });
  console.log(`lab up in ${Math.round(performance.now() - t0)} ms; IPv${family}, ${size}-byte payloads, ${seconds} s per run`);
  const translator = createTranslator(netnsHost(cpe), { pinRoot: `/sys/fs/bpf/mnat-bench-${process.pid}`, instance: 'bench' });
  translatorToDetach = translator;
  await translator.attach('wan');
  await translator.upsert({ from: map.local, to: map.global, outputs: ['br-lan'] });

  const v6 = family === 6 ? ['-V'] : [];
  const bracket = (a: string) => (family === 6 ? `[${a}]` : a); // iperf reads a bare IPv6 address's last group as a port
  const startServer = async () => {
    const server = lan.spawn(['iperf', '-s', '-u', '-e', '-w', '4M', ...v6, '-B', `${bracket(map.global.group)}%eth0`, '-H', map.global.source]);
    await server.waitForLine(/listening/i, 10_000);
    await cpe.waitForMdbChannel('br-lan', 'lan0', map.global.source, map.global.group);
    return server;
  };

  const sendFrom = { translated: map.local, baseline: map.global };
  const runOnce = async (path: 'translated' | 'baseline', pps: number): Promise<Run> => {
    const server = await startServer();
    const ch = sendFrom[path];
    const client = await snd.exec(
      ['iperf', '-c', `${ch.group}%${path === 'translated' ? 'eth0' : 'eth1'}`, '-u', ...v6, '-B', bracket(ch.source), '-T', '16', '-l', String(size), '-b', `${pps}pps`, '-t', String(seconds), '-e'],
      (seconds + 20) * 1000,
    );
    const sentMatch = /Sent (\d+) datagrams/.exec(client.stdout);
    // The server's final report for this stream: "... Lost/Total (x%) ... N pps".
    const line = await server.waitForLine((l) => /\d+\/\d+ \([\d.e+-]+%\)/.test(l) && / pps/.test(l), 15_000).catch((err: Error) => {
      throw new Error(`${path} at ${pps} pps: no iperf server report (client said: ${client.stdout.trim().split('\n').pop() ?? ''}): ${err.message}`);
    });
    await server.kill();
    const m = /(\d+)\/(\d+) \(([\d.e+-]+)%\).*?(\d+) pps/.exec(line);
    if (!m || !sentMatch) throw new Error(`cannot parse iperf output:\n${client.stdout}\n${line}`);
    const total = Number(m[2]);
    const lost = Number(m[1]);
    const received = total - lost;
    const span = /([\d.]+)-([\d.]+) sec/.exec(line);
    const duration = span ? Number(span[2]) - Number(span[1]) : seconds;
    return { offered: pps, sent: Number(sentMatch[1]), received, lossRate: total > 0 ? lost / total : 1, rxPps: Math.round(received / duration) };
  };
  // The machine is shared: a point counts as lossless when one of up to 3 tries is.
  const measure = async (path: 'translated' | 'baseline', pps: number): Promise<Run> => {
    let best: Run | null = null;
    for (let i = 0; i < 3; i++) {
      const r = await runOnce(path, pps);
      if (best === null || r.lossRate < best.lossRate) best = r;
      if (r.lossRate < LOSS_LIMIT) break;
    }
    return best as Run;
  };
  await runOnce('translated', 10_000); // warm-up: ARP/ND, caches, the iperf server's first report
  await runOnce('baseline', 10_000);

  const results: Record<'translated' | 'baseline', Run[]> = { translated: [], baseline: [] };
  console.log('offered pps | translated: sent pps -> received pps (loss) | baseline: sent pps -> received pps (loss)');
  for (const pps of rates) {
    const tr = await measure('translated', pps);
    const base = await measure('baseline', pps);
    results.translated.push(tr);
    results.baseline.push(base);
    // The sender may not reach the offered rate (one iperf thread on a shared machine): show what it sent.
    const fmt = (r: Run) => `${String(Math.round(r.sent / seconds)).padStart(7)} -> ${String(r.rxPps).padStart(7)} (${(r.lossRate * 100).toFixed(3)} %)`;
    console.log(`${String(pps).padStart(11)} | ${fmt(tr).padStart(38)} | ${fmt(base).padStart(36)}`);
  }
  const lossless = (r: Run | undefined) => r !== undefined && r.lossRate < LOSS_LIMIT;
  const both = rates.map((_, i) => i).filter((i) => lossless(results.translated[i]) && lossless(results.baseline[i])).pop();
  if (both !== undefined) {
    const t = results.translated[both]!;
    const b = results.baseline[both]!;
    console.log(
      `highest offered rate at which both paths lost < 0.1 %: ${t.offered} pps; received translated ${t.rxPps} pps, ` +
        `baseline ${b.rxPps} pps: ratio ${(t.rxPps / b.rxPps).toFixed(3)}`,
    );
  } else {
    console.log('no offered rate had < 0.1 % loss on both paths (a busy machine? try --seconds 4)');
  }
  const lt = results.translated[results.translated.length - 1];
  const lb = results.baseline[results.baseline.length - 1];
  if (lt && lb) {
    console.log(
      `at the highest offered rate (${lt.offered} pps): received translated ${lt.rxPps} pps (${lt.sent} sent), ` +
        `baseline ${lb.rxPps} pps (${lb.sent} sent): ratio ${(lt.rxPps / lb.rxPps).toFixed(3)}`,
    );
  }

  // BPF cost per packet: matching (translated + redirected) and non-matching (passed) packets.
  writeFileSync(statsPath, '1');
  const cost = async (what: string, group: string, source: string) => {
    const before = await pinnedProgStats(translator.host, translator.progPin);
    await snd.exec(['iperf', '-c', `${group}%eth0`, '-u', ...v6, '-B', bracket(source), '-T', '16', '-l', String(size), '-b', '20000pps', '-t', String(seconds)], (seconds + 20) * 1000);
    const after = await pinnedProgStats(translator.host, translator.progPin);
    const n = after.runCount - before.runCount;
    const ns = (after.runTimeNs - before.runTimeNs) / Math.max(1, n);
    console.log(`BPF program cost, ${what}: ${ns.toFixed(0)} ns per packet over ${n} packets (bpf_stats run_time_ns / run_cnt)`);
  };
  await cost('translated + redirected', map.local.group, map.local.source);
  await cost('not in the map (passed)', family === 4 ? '232.1.1.99' : 'ff3e::8000:99', map.local.source);
  // The program alone (BPF_PROG_TEST_RUN, 1e6 repetitions, no stats overhead) on one frame of each kind.
  // test_run reuses the rewritten packet between repetitions, so the translated case uses two
  // rules that translate A->B and B->A without touching the TTL: every repetition translates.
  const A = family === 4 ? { source: '10.9.9.1', group: '232.9.9.1' } : { source: 'fd09::1', group: 'ff3e::9:1' };
  const B = family === 4 ? { source: '10.9.9.2', group: '232.9.9.2' } : { source: 'fd09::2', group: 'ff3e::9:2' };
  await translator.upsert({ from: A, to: B, outputs: ['br-lan'], keepTtl: true });
  await translator.upsert({ from: B, to: A, outputs: ['br-lan'], keepTtl: true });
  const work = mkdtempSync(join(tmpdir(), 'mnat-bench-'));
  try {
    const l4 = (src: string, dst: string) => udpDatagram(family, src, dst, 5000, 5001, new Uint8Array(size));
    const frames: Array<[string, Uint8Array]> = [
      ['translated and redirected', frame({ family, src: A.source, dst: A.group, l4: l4(A.source, A.group) })],
      ['multicast not in the map', frame({ family, src: map.local.source, dst: map.global.group, l4: l4(map.local.source, map.global.group) })],
      ['unicast', frame({ family, src: map.local.source, dst: family === 4 ? '10.0.0.2' : 'fd00::2', dstMac: '02:00:00:00:00:02', l4: l4(map.local.source, family === 4 ? '10.0.0.2' : 'fd00::2') })],
    ];
    for (const [what, bytes] of frames) {
      writeFileSync(join(work, 'in'), bytes);
      const out = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'run', 'pinned', translator.progPin, 'data_in', join(work, 'in'), 'repeat', '1000000'], { encoding: 'utf8' })) as { duration: number; retval: number };
      console.log(`BPF program alone (prog run x1e6), ${what}: ${out.duration} ns per run (return ${out.retval}; unicast is the harness floor)`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  await translator.remove(A);
  await translator.remove(B);
  const c = await translator.counters();
  console.log(`translator counters: ${JSON.stringify(c)} drops ${JSON.stringify(c.drops)}`);
  await translator.detach();
} finally {
  writeFileSync(statsPath, statsBefore);
  await translatorToDetach?.detach().catch(() => undefined); // while the namespaces still exist
  await lab.destroy();
}
