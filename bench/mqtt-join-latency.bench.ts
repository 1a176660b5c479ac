// Join-to-first-packet through the whole system with the CPE egress under
// qjs, mappings over yang-push SSE vs over MQTT, in one run (one lab each,
// one after the other): a LAN host joins a global (Sg,Gg) nobody receives
// yet; measured in the host from its join to the first packet. Over MQTT the
// path is IGMPv3 report → br-lan snooping → mnat-egress → PUT (RESTCONF) and,
// as the channel set changed, mosquitto_sub started again with the new topic
// → mnat-server allocates → one retained publish → mosquitto → the ingress
// (MQTT.js) and the egress (mosquitto_sub) → translator rules and joins →
// packets. Over SSE the mapping comes on the agents' push streams instead.
// Run as root: node --import ./build/ts-loader.mjs bench/mqtt-join-latency.bench.ts [joins=60] [rounds=1]
import { MnatLab } from '../lab/mnat-lab.ts';
import { benchCleanup, pct } from './bench-support.ts';
import { measureJoins } from './system-joins.ts';

const joins = Number(process.argv[2] ?? 60);
const rounds = Number(process.argv[3] ?? 1);

async function measure(mqtt: boolean): Promise<{ lat: number[]; failures: number }> {
  const { t, run: cleanUp } = benchCleanup();
  try {
    const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, gracePeriodS: 1, egressRuntime: 'qjs', mqtt });
    await m.startAll();
    if (mqtt) await m.ingress!.waitForLine(/MQTT: mappings from the broker/, 15_000);
    const { lat, failures } = await measureJoins(m, joins);
    // A run that fell back to push is not an MQTT figure.
    if (mqtt && m.egress[0]!.lines.some((l) => l.includes('MQTT broker unreachable'))) throw new Error('the egress fell back to push during the MQTT run');
    return { lat, failures };
  } finally {
    await cleanUp();
  }
}

const all: Record<string, number[]> = { sse: [], mqtt: [] };
const failed: Record<string, number> = { sse: 0, mqtt: 0 };
for (let r = 0; r < rounds; r++) {
  for (const mode of ['sse', 'mqtt'] as const) {
    const { lat, failures } = await measure(mode === 'mqtt');
    all[mode]!.push(...lat);
    failed[mode]! += failures;
    const ms = (n: number): string => `${Math.round(n)} ms`;
    console.log(`round ${r + 1} ${mode.padEnd(4)}: n=${lat.length} failures=${failures} p50=${ms(pct(lat, 50))} p99=${ms(pct(lat, 99))} max=${ms(Math.max(...lat))}`);
  }
}
const ms = (n: number): string => `${Math.round(n)} ms`;
console.log(
  `join → first packet, egress under qjs, ${joins} joins x ${rounds} rounds: ` +
    `SSE p50 ${ms(pct(all.sse!, 50))} p99 ${ms(pct(all.sse!, 99))} (failures ${failed.sse}); ` +
    `MQTT p50 ${ms(pct(all.mqtt!, 50))} p99 ${ms(pct(all.mqtt!, 99))} (failures ${failed.mqtt})`,
);
