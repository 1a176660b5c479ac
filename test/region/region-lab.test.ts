// The whole system with a region: two mnat-server front ends over a 3-member
// etcd cluster in the ISP core, the ingress and the CPEs listing both. kill -9
// the front end CPE 1 uses while the streams flow: the CPEs and the ingress
// move to the other front end with their watcher ids, their watchers are not
// expired (their refreshes claim them), the mappings stay, and the receivers
// see no gap. Needs root (network namespaces).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHANNELS, ISP_DOMAIN, ispZone, isRoot, MNAT_SERVER_NAME, MnatLab, receiverFlowing, receiverStats, SERVER_PORT, waitFor } from '../../lab/mnat-lab.ts';
import { ETCD_BINARY } from '../../lab/etcd-cluster.ts';

const skip = !isRoot() ? 'needs root (network namespaces)' : !ETCD_BINARY ? 'needs etcd (apt-get install etcd-server)' : false;

const flowing = receiverFlowing;

test('two front ends: kill -9 the one the CPEs use while the streams flow; receivers see no gap', { skip }, async (t) => {
  const m = await MnatLab.create(t, { cpes: 2, hostsPerCpe: 1, refreshPeriodS: 2 });
  await m.startRegion(2);
  await m.startIngress();
  await Promise.all(m.topo.cpes.map((c) => m.startEgress(c.index)));
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v6, { rate: 200, stream: 2 });
  const rx1 = m.receiver(m.host(1, 1), CHANNELS.v4);
  const rx2 = m.receiver(m.host(2, 1), CHANNELS.v6);
  await rx1.waitForJson((e) => e.event === 'first-packet', 30_000);
  await rx2.waitForJson((e) => e.event === 'first-packet', 30_000);
  await flowing(rx1, 100, 10_000, 'v4');
  const mappingsOf = async (port: number): Promise<string[]> => (await m.serverMappings(port)).map((x) => `${x.id} ${x.global} ${x.state} ${x.local}`).sort();
  const before = await mappingsOf(SERVER_PORT);
  assert.equal(before.length, 2);
  assert.deepEqual(await mappingsOf(SERVER_PORT + 1), before, 'both front ends list the same mappings');

  const cpe1 = m.topo.cpes[0]!;
  const victim = await waitFor(() => m.frontEndOf(cpe1.wan.ipv4), 10_000, 'CPE 1 connected to a front end');
  const survivor = 1 - victim;
  t.diagnostic(`CPE 1 uses front end fe${victim + 1}; killing it`);
  await m.frontEnds[victim]!.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor(async () => (await m.frontEndOf(cpe1.wan.ipv4)) === survivor, 30_000, 'CPE 1 on the other front end');
  t.diagnostic(`CPE 1 reconnected to fe${survivor + 1} ${Date.now() - killedAt} ms after the kill`);

  // Past the dead front end's lease (2 s) and the expiry window (3 × 2 s): nobody was expired.
  const survivorLines = m.frontEnds[survivor]!.lines.length;
  await flowing(rx1, 2400, 30_000, 'v4 through the failover and the expiry window');
  await flowing(rx2, 200, 10_000, 'v6');
  const expired = m.frontEnds[survivor]!.lines.slice(survivorLines).filter((l) => /expiring watchers of a gone front end/.test(l));
  assert.deepEqual(expired, [], 'every watcher of the dead front end was claimed by its client before the window ended');
  assert.deepEqual(await mappingsOf(SERVER_PORT + survivor), before, 'the mappings never changed');
  const metrics = await m.serverGet('/metrics', SERVER_PORT + survivor);
  assert.match(metrics, /mnat_region_frontends 1/);
  assert.match(metrics, /mnat_watchers\{role="egress"\} 2/);
  assert.match(metrics, /mnat_watchers\{role="ingress"\} 1/);

  // A join made now, through the surviving front end, gets the existing mapping.
  const rx3 = m.receiver(m.host(2, 1), CHANNELS.v4);
  await rx3.waitForJson((e) => e.event === 'first-packet', 20_000);
  for (const rx of [rx1, rx2]) {
    const s = await receiverStats(rx);
    assert.equal(s.missing, 0, `no packet lost across the failover (${s.unique} received)`);
    assert.equal(s.duplicates, 0);
  }
});

test('an egress on DNS-SD (qjs, BusyBox nslookup): its front end replaced in DNS and killed, it looks the service up again and moves on with its watcher id; no gap', { skip }, async (t) => {
  // Refresh period 20 s: the watcher's expiry window (60 s) outlasts the 30 s without an answer before the new lookup.
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, egressRuntime: 'qjs', refreshPeriodS: 20 });
  await m.startRegion(2);
  await m.startIngress();
  // DNS lists fe1 only (ispZone: one SRV target on SERVER_PORT).
  const resolvConf = await m.startDns();
  const egress = await m.startEgress(1, [], { server: 'dns-sd', resolvConf });
  await egress.waitForLine((l) => l.includes('msg=DNS-SD') && l.includes(`origin=https://${MNAT_SERVER_NAME}:${SERVER_PORT} `), 20_000);
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  const rx = m.receiver(m.host(1, 1), CHANNELS.v4);
  await rx.waitForJson((e) => e.event === 'first-packet', 30_000);
  const cpe = m.topo.cpes[0]!;
  // The name has A and AAAA records: curl may connect over either.
  const frontEnd = async (): Promise<number | null> => (await m.frontEndOf(cpe.wan.ipv4)) ?? (await m.frontEndOf(cpe.wan.ipv6));
  assert.equal(await waitFor(frontEnd, 10_000, 'the egress connected'), 0);
  const mappings = (await m.serverMappings(SERVER_PORT + 1)).map((x) => `${x.global} ${x.local}`);

  // The operator moves the service: DNS now lists fe2 first (priority 0) and fe1 after it; fe1 dies.
  await m.dns!.kill();
  const zone = ispZone(m.topo);
  const moved = { ...zone, services: { [ISP_DOMAIN]: [{ label: 'mnat', srv: [{ target: MNAT_SERVER_NAME, port: SERVER_PORT + 1, priority: 0 }, { target: MNAT_SERVER_NAME, port: SERVER_PORT, priority: 10 }], txt: ['path=/restconf'] }] } };
  await m.startDns(moved);
  const from = egress.lines.length;
  await m.frontEnds[0]!.kill('SIGKILL');
  await egress.waitForLine((l) => l.includes('DNS-SD: the servers changed') && l.includes(`to=https://${MNAT_SERVER_NAME}:${SERVER_PORT + 1},https://${MNAT_SERVER_NAME}:${SERVER_PORT}`), 60_000, from);
  // The new list starts at fe2 (fe1 just failed), and the watcher client tries
  // it at once rather than after its backoff (up to 30 s).
  const listChangedAt = Date.now();
  assert.equal(await waitFor(async () => ((await frontEnd()) === 1 ? 1 : null), 15_000, 'the egress on fe2'), 1);
  t.diagnostic(`the egress was on fe2 ${Date.now() - listChangedAt} ms after it read the new list`);
  const later = egress.lines.slice(from);
  assert.ok(!later.some((l) => l.includes('got watcher id')), `the egress kept its watcher id:\n${later.join('\n')}`);
  await receiverFlowing(rx, 400, 20_000, 'after the move');
  assert.deepEqual((await m.serverMappings(SERVER_PORT + 1)).map((x) => `${x.global} ${x.local}`), mappings, 'the mapping never changed');
  const s = await receiverStats(rx);
  assert.equal(s.missing, 0, `no packet lost while the egress had no server (${s.unique} received)`);
});
