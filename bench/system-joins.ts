// The join loop of the whole-system join benchmarks (system-join-latency,
// mqtt-join-latency): a sender with one stream per group, then host 1.1 joins
// each group in turn (a new global channel each time) and the latency from its
// join to the first packet is taken in the host.
import { nodeArgv } from '../lab/lab.ts';
import type { MnatLab } from '../lab/mnat-lab.ts';

export const JOIN_SOURCE = '23.212.185.4';
export const joinGroup = (i: number): string => `232.2.${i >> 8}.${i & 255}`;

export interface JoinRun {
  groups: string[];
  /** Join → first packet, ms, in join order (failed joins left out). */
  lat: number[];
  failures: number;
  /** When the host joined each group (epoch ms). */
  joinedAt: Map<string, number>;
}

export async function measureJoins(m: MnatLab, joins: number, source = JOIN_SOURCE): Promise<JoinRun> {
  const host = m.host(1, 1);
  const tx = m.topo.sender.ns.spawn(nodeArgv('bench/system-sender.ts', ['--source', source, '--base', joinGroup(0), '--count', String(joins), '--interval-ms', '5']));
  await tx.waitForJson((e) => e.event === 'started');
  const groups = Array.from({ length: joins }, (_, i) => joinGroup(i));
  const rx = host.ns.spawn(nodeArgv('bench/system-receiver.ts', ['--source', source, '--interface', host.dev, ...groups.flatMap((g) => ['--group', g])]));
  await rx.waitForJson((e) => e.event === 'ready');
  const run: JoinRun = { groups, lat: [], failures: 0, joinedAt: new Map() };
  for (const g of groups) {
    const mark = rx.lines.length;
    const joined = await rx.ask(`join ${g}`, (e) => e.event === 'joined');
    run.joinedAt.set(g, Number(joined.at));
    try {
      const first = await rx.waitForJson((e) => e.event === 'first' && e.group === g, 5000, mark);
      run.lat.push(Number(first.t) - Number(joined.at));
    } catch {
      run.failures++;
    }
    rx.write(`leave ${g}`);
  }
  return run;
}
