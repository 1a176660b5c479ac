// The whole system with the mappings over MQTT: a real mosquitto in the ISP
// core run with the shipped configuration (TLS, client certificates, the
// ACL), mnat-server publishing to it, the ingress and the CPE egresses under
// qjs (mosquitto_sub) subscribing. Real packets from the global sender to the
// LAN hosts; joins still go to the server over RESTCONF.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNELS, MnatLab, receiverStats, waitFor, type GlobalChannel } from '../../lab/mnat-lab.ts';
import { readTranslatorRules } from '../../lab/translator-view.ts';
import type { LabProcess } from '../../lab/lab.ts';

const key = (c: GlobalChannel): string => `${c.source},${c.group}`;

/** Resolves once the receiver's unique count has grown by n from now. */
async function flowing(rx: LabProcess, n = 100, timeoutMs = 20_000, what = 'the stream'): Promise<void> {
  const start = (await receiverStats(rx)).unique;
  await waitFor(async () => (await receiverStats(rx)).unique >= start + n, timeoutMs, `${what} to flow (+${n} packets)`);
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Requests answered 200 or 204. */
const requestsOk = (text: string): number => (metric(text, 'mnat_http_requests_total\\{code="200"\\}') || 0) + (metric(text, 'mnat_http_requests_total\\{code="204"\\}') || 0);

function egressStatus(m: MnatLab, k: number): { server: { mode: string }; channels: Array<{ global: string; local: string | null; status: string }> } {
  return JSON.parse(readFileSync(join(m.dir, `egress-cpe${k}.status.json`), 'utf8'));
}

test('CPE egress under qjs on MQTT: join → first packet; a server restart moves no CPE to push and keeps the mappings; a broker restart mid-stream loses nothing and updates resume', async (t) => {
  const m = await MnatLab.create(t, { cpes: 2, hostsPerCpe: 1, egressRuntime: 'qjs', mqtt: true });
  await m.startAll();
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  const rx1 = m.receiver(m.host(1, 1), CHANNELS.v4);
  const first = await rx1.waitForJson((e) => e.event === 'first-packet', 20_000);
  assert.equal(first.source, CHANNELS.v4.source);
  await m.egress[0]!.waitForLine(/MQTT: mappings from the broker/, 10_000);
  await m.ingress!.waitForLine(/MQTT: mappings from the broker/, 10_000);
  let metrics = await m.serverGet('/metrics');
  assert.equal(metric(metrics, 'mnat_push_subscriptions'), 0, 'neither agent follows the server by push');
  assert.equal(metric(metrics, 'mnat_mqtt_connected'), 1);
  // The status file is written after each kernel pass has finished (its joins too), which can be after the first packet.
  await waitFor(() => egressStatus(m, 1).server.mode === 'mqtt' && egressStatus(m, 1).channels.find((c) => c.global === key(CHANNELS.v4))?.status === 'active', 10_000, 'the status file to say mqtt, the channel active');
  const mapped = egressStatus(m, 1).channels.find((c) => c.global === key(CHANNELS.v4))!;
  await flowing(rx1, 100);

  // The server restarts (kill -9, its state kept): the CPEs stay on MQTT.
  const egressLines = m.egress.map((e) => e!.lines.length);
  await m.server!.kill('SIGKILL');
  await m.startServer();
  await m.server!.waitForLine(/MQTT: publishing every mapping \(connected\).*channels=1/, 10_000);
  // Wait for the agents' next refreshes to reach the new server (every 10 s), then look. Each
  // /metrics GET is counted after its text is made: take our own earlier GETs off.
  let polls = 0;
  const agentRequests = async (): Promise<number> => requestsOk(await m.serverGet('/metrics')) - polls++;
  await waitFor(async () => (await agentRequests()) >= 3, 30_000, 'the agents (2 egresses, 1 ingress) to refresh at the new server');
  metrics = await m.serverGet('/metrics');
  assert.equal(metric(metrics, 'mnat_push_subscriptions'), 0, 'no CPE reconnected to the push stream');
  for (const [i, e] of m.egress.entries()) {
    const since = e!.lines.slice(egressLines[i]);
    assert.ok(!since.some((l) => /MQTT broker unreachable|got watcher id|mappings from the broker/.test(l)), `egress ${i + 1}: no fallback, no new watcher id:\n${since.join('\n')}`);
  }
  assert.deepEqual(egressStatus(m, 1).channels.find((c) => c.global === key(CHANNELS.v4))?.local, mapped.local, 'the same mapping');
  await flowing(rx1, 200);
  assert.equal((await receiverStats(rx1)).missing, 0, 'no packet lost across the server restart');

  // The broker restarts mid-stream (SIGKILL, no persistence: every retained message is gone).
  await m.broker!.kill();
  await m.broker!.start();
  await m.server!.waitForLine((l) => /MQTT: publishing every mapping \(connected\)/.test(l) && m.server!.lines.filter((x) => x.includes('publishing every mapping (connected)')).length >= 2, 20_000);
  await flowing(rx1, 200, 20_000, 'the stream after the broker restart');
  // Updates resume: a new join on CPE 2 is mapped over MQTT (its first subscription) and delivered.
  m.sender(CHANNELS.v6, { rate: 200, stream: 2 });
  const rx2 = m.receiver(m.host(2, 1), CHANNELS.v6);
  await rx2.waitForJson((e) => e.event === 'first-packet', 30_000);
  await m.egress[1]!.waitForLine(/MQTT: mappings from the broker/, 10_000);
  assert.equal(metric(await m.serverGet('/metrics'), 'mnat_push_subscriptions'), 0);
  await flowing(rx1, 100);
  const s1 = await receiverStats(rx1);
  assert.equal(s1.missing, 0, `no packet lost across the broker restart (${s1.unique} received)`);
  assert.equal(s1.duplicates, 0);
  t.diagnostic(`v4 on CPE 1: ${s1.unique} packets, none missing, across a server restart and a broker restart`);
  // Stopped the way Ctrl-C or a supervisor's group kill stops it (mosquitto_sub gets the signal too): no warning on the way out.
  const egress = m.egress[1]!;
  const from = egress.lines.length;
  await egress.kill('SIGTERM');
  const out = egress.lines.slice(from);
  assert.ok(out.some((l) => l.includes('mnat-egress stopped')), out.join('\n'));
  assert.deepEqual(out.filter((l) => /level=(warn|error)/.test(l)), [], 'a clean stop logs no warning');
});

test('a re-mapping over MQTT switches without a gap: the server loses its state and gets a renumbered pool; egress (qjs) joins the new local channel before the ingress moves', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, egressRuntime: 'qjs', mqtt: true, refreshPeriodS: 2 });
  await m.startAll();
  const RATE = 200;
  m.sender(CHANNELS.v4, { rate: RATE, stream: 1 });
  const rx = m.receiver(m.host(1, 1), CHANNELS.v4);
  await rx.waitForJson((e) => e.event === 'first-packet', 20_000);
  await flowing(rx, 100);
  const before = (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4))!;

  await m.server!.kill('SIGKILL');
  writeFileSync(join(m.dir, 'pool.json'), JSON.stringify({
    'group-pool': { ranges: [{ 'group-range': '232.254.0.0/24', 'source-range': '10.0.0.0/24' }, { 'group-range': 'ff35:0:0:0:0:0:b:0/112', 'source-range': 'fd00:c0::/64' }] },
  }));
  await m.startServer([], { freshState: true });
  const after = await waitFor(async () => (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4) && x.state === 'assigned'), 30_000, 'the new server to map v4 again');
  assert.notEqual(after.local, before.local);
  assert.match(after.local, /^10\.0\.0\.\d+,232\.254\.0\.\d+$/);
  // The egress got it over MQTT and joins the new local channel, keeping the old one.
  await m.egress[0]!.waitForLine((l) => l.includes(`join (${after.local}) on `), 20_000);
  await m.ingress!.waitForLine(/re-mapped channel: moving in a moment/, 20_000);
  await waitFor(async () => (await readTranslatorRules(m)).some((r) => r.where === 'ingress' && `${r.to.source},${r.to.group}` === after.local), 20_000, 'the ingress on the new local channel');
  await flowing(rx, 2 * RATE, 20_000, 'the stream on the new mapping');
  // After the overlap the egress lets the old local channel go.
  await m.egress[0]!.waitForLine((l) => l.includes(`leave (${before.local}) on `), 40_000);
  await flowing(rx, 100);
  const s = await receiverStats(rx);
  t.diagnostic(`v4: ${s.unique} packets across the re-mapping ${before.local} -> ${after.local}; missing ${s.missing}, duplicates ${s.duplicates}`);
  assert.equal(s.missing, 0, 'no packet lost across the re-mapping');
  assert.equal(s.duplicates, 0, 'none delivered twice');
  assert.equal(s.badPayload, 0);
});
