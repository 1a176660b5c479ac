// Faults through the whole system: the server killed and restarted, agents
// restarted (gracefully and with SIGKILL), the core link to a CPE cut for 30 s.
// Everything must recover without intervention and leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHANNELS, MnatLab, receiverFlowing, receiverStats, waitFor, type GlobalChannel } from '../../lab/mnat-lab.ts';
import { readTranslatorRules } from '../../lab/translator-view.ts';
import type { Netns } from '../../lab/lab.ts';

const key = (c: GlobalChannel): string => `${c.source},${c.group}`;

const flowing = receiverFlowing;

async function clsactOn(ns: Netns, dev: string): Promise<boolean> {
  return /clsact/.test(await ns.run(['tc', 'qdisc', 'show', 'dev', dev]));
}

async function bpfFilters(ns: Netns, dev: string): Promise<number> {
  const out = await ns.exec(['tc', 'filter', 'show', 'dev', dev, 'ingress']);
  // One line per filter ("... handle 0x1 prog:[...] direct-action ..."), after a header line per pref.
  return out.stdout.split('\n').filter((l) => / bpf .* handle /.test(l)).length;
}

async function pinDirExists(m: MnatLab, instance: string): Promise<boolean> {
  const r = await m.topo.core.ns.exec(['test', '-e', `${m.pinRoot}/${instance}`]);
  return r.code === 0;
}

test('kill -9 the server mid-stream and restart it: no packet gap, same mappings, new joins work again', async (t) => {
  const m = await MnatLab.create(t, { cpes: 2, hostsPerCpe: 1 });
  await m.startAll();
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v6, { rate: 200, stream: 2 });
  const rx1 = m.receiver(m.host(1, 1), CHANNELS.v4);
  const rx2 = m.receiver(m.host(2, 1), CHANNELS.v6);
  await rx1.waitForJson((e) => e.event === 'first-packet', 20_000);
  await rx2.waitForJson((e) => e.event === 'first-packet', 20_000);
  await flowing(rx1, 100);
  const before = (await m.serverMappings()).map((x) => `${x.id} ${x.global} ${x.state} ${x.local}`).sort();
  assert.equal(before.length, 2);

  const ingressMark = m.ingress!.lines.length;
  await m.server!.kill('SIGKILL');
  await m.ingress!.waitForLine(/server unreachable|MNAT server unreachable/, 30_000, ingressMark);
  // Down for a while: the kernel keeps translating what it knows.
  await flowing(rx1, 200, 10_000, 'v4 while the server is down');
  await flowing(rx2, 200, 10_000, 'v6 while the server is down');

  await m.startServer();
  await m.ingress!.waitForLine(/server connected/, 30_000, ingressMark);
  const after = await waitFor(async () => {
    const ms = (await m.serverMappings()).map((x) => `${x.id} ${x.global} ${x.state} ${x.local}`).sort();
    return ms.length === before.length ? ms : null;
  }, 15_000, 'the restarted server to list the mappings');
  assert.deepEqual(after, before, 'same mappings after the restart');

  // A join made after the restart gets the existing mapping.
  const rx3 = m.receiver(m.host(2, 1), CHANNELS.v4);
  const first = await rx3.waitForJson((e) => e.event === 'first-packet', 20_000);
  assert.equal(first.source, CHANNELS.v4.source);

  for (const rx of [rx1, rx2]) {
    const s = await receiverStats(rx);
    assert.equal(s.missing, 0, `no packet lost across the server restart (${s.unique} received)`);
    assert.equal(s.duplicates, 0);
  }
});

test('restart the egress and the ingress (SIGTERM and SIGKILL): re-convergence, no leftovers', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1 });
  await m.startAll();
  const cpe = m.topo.cpes[0]!;
  const ing = m.topo.ingress;
  m.sender(CHANNELS.v4, { rate: 200 });
  const rx = m.receiver(m.host(1, 1), CHANNELS.v4);
  await rx.waitForJson((e) => e.event === 'first-packet', 20_000);
  const mapping = (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4));
  assert.ok(mapping);
  const localGroupHex = (g: string): string => g.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  const lgHex = localGroupHex(mapping.local.split(',')[1]!);

  // Egress, SIGTERM: exits 0, leaves the local channel, removes its translator (pins, filter, qdisc it added).
  assert.equal(await m.egress[0]!.kill('SIGTERM'), 0);
  assert.equal(await pinDirExists(m, 'egress-cpe1'), false, 'egress pins removed');
  assert.equal(await bpfFilters(cpe.ns, 'wan'), 0, 'no translator filter left on the WAN');
  assert.equal(await clsactOn(cpe.ns, 'wan'), false, 'no clsact qdisc left on the WAN');
  await waitFor(async () => !new RegExp(`0x${lgHex}`, 'i').test(await cpe.ns.run(['cat', '/proc/net/mcfilter'])), 5000, 'the CPE to leave the local channel');
  await m.startEgress(1);
  await flowing(rx, 100, 20_000, 'after the egress restart');
  // (The stopped egress was the channel's only receiver, so the server may have released it and mapped it anew.)
  const current = (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4));
  assert.ok(current);

  // Ingress, SIGTERM: exits 0, leaves upstream, removes its translator.
  assert.equal(await m.ingress!.kill('SIGTERM'), 0);
  assert.equal(await pinDirExists(m, 'ingress'), false, 'ingress pins removed');
  assert.equal(await bpfFilters(ing.ns, 'up0'), 0, 'no translator filter left on up0');
  assert.equal(await clsactOn(ing.ns, 'up0'), false, 'no clsact qdisc left on up0');
  assert.ok(!/0xe8010101/i.test(await ing.ns.run(['cat', '/proc/net/mcfilter'])), 'upstream membership left');
  await m.startIngress();
  await flowing(rx, 100, 20_000, 'after the ingress restart');
  assert.equal((await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4))?.local, current.local, 'an ingress restart keeps the mapping');

  // Ingress, SIGKILL: the pins and filter stay behind; the next start cleans them up and takes over.
  await m.ingress!.kill('SIGKILL');
  assert.equal(await pinDirExists(m, 'ingress'), true, 'a crash leaves pins (the case under test)');
  await m.startIngress();
  await flowing(rx, 100, 20_000, 'after the ingress crash and restart');
  assert.equal(await bpfFilters(ing.ns, 'up0'), 1, 'exactly one translator filter after the crash restart');

  // Egress, SIGKILL, likewise.
  await m.egress[0]!.kill('SIGKILL');
  await m.startEgress(1);
  await flowing(rx, 100, 20_000, 'after the egress crash and restart');
  assert.equal(await bpfFilters(cpe.ns, 'wan'), 1, 'exactly one translator filter on the WAN after the crash restart');
  const s = await receiverStats(rx);
  assert.equal(s.duplicates, 0);
  assert.equal(s.badPayload, 0);
});

test('cut the core link to a CPE for 30 s: the other CPE is untouched, the cut one recovers by itself', async (t) => {
  // A short refresh period, so the server expires the cut CPE's watcher during the cut (the harder case).
  const m = await MnatLab.create(t, { cpes: 2, hostsPerCpe: 1, refreshPeriodS: 5 });
  await m.startAll();
  m.sender(CHANNELS.v4, { rate: 100 });
  const rx1 = m.receiver(m.host(1, 1), CHANNELS.v4);
  const rx2 = m.receiver(m.host(2, 1), CHANNELS.v4);
  await rx1.waitForJson((e) => e.event === 'first-packet', 20_000);
  await rx2.waitForJson((e) => e.event === 'first-packet', 20_000);
  const core = m.topo.core.ns;

  await core.run(['ip', 'link', 'set', 'p-cpe1', 'down']);
  const cutAt = Date.now();
  t.after(() => core.exec(['ip', 'link', 'set', 'p-cpe1', 'up']));
  await new Promise((r) => setTimeout(r, 30_000)); // the fault itself lasts 30 s
  const during1 = (await receiverStats(rx1)).unique;
  await core.run(['ip', 'link', 'set', 'p-cpe1', 'up']);
  const upAt = Date.now();
  await flowing(rx1, 100, 60_000, 'CPE 1 after the link came back');
  t.diagnostic(`cut ${Math.round((upAt - cutAt) / 1000)} s; CPE 1 receiving again ${Date.now() - upAt} ms after the link came back`);
  assert.ok((await receiverStats(rx1)).unique > during1);
  const s2 = await receiverStats(rx2);
  assert.equal(s2.missing, 0, 'CPE 2 lost nothing while CPE 1 was cut off');
  // The mapping survived (CPE 2 kept it joined) and CPE 1's egress registers again by itself
  // (its watcher expired during the cut; it retries with backoff, at most 30 s apart).
  await waitFor(async () => (await m.serverMappings()).find((x) => x.global === key(CHANNELS.v4))?.egressWatchers === 2, 60_000, 'CPE 1 back on the mapping at the server');
  t.diagnostic(`CPE 1 registered at the server again ${Date.now() - upAt} ms after the link came back`);
});

test('the server restarts with its state lost: mappings are re-made and streams switch over with a bounded gap', async (t) => {
  const m = await MnatLab.create(t, { cpes: 2, hostsPerCpe: 1 });
  await m.startAll();
  const RATE = 200;
  m.sender(CHANNELS.v4, { rate: RATE, stream: 1 });
  m.sender(CHANNELS.v6, { rate: RATE, stream: 2 });
  const rx1 = m.receiver(m.host(1, 1), CHANNELS.v4);
  const rx2 = m.receiver(m.host(2, 1), CHANNELS.v6);
  await rx1.waitForJson((e) => e.event === 'first-packet', 20_000);
  await rx2.waitForJson((e) => e.event === 'first-packet', 20_000);
  await flowing(rx1, 100);
  const before = await m.serverMappings();

  await m.server!.kill('SIGKILL');
  // A different pool range makes sure the new server cannot hand out the old local channels again.
  const moved = {
    'group-pool': {
      ranges: [
        { 'group-range': '232.254.0.0/24', 'source-range': '10.0.0.0/24' },
        { 'group-range': 'ff35:0:0:0:0:0:b:0/112', 'source-range': 'fd00:c0::/64' },
      ],
    },
  };
  writeFileSync(join(m.dir, 'pool.json'), JSON.stringify(moved));
  const restartedAt = Date.now();
  await m.startServer([], { freshState: true });

  const after = await waitFor(async () => {
    const ms = await m.serverMappings();
    return ms.filter((x) => x.state === 'assigned').length === 2 ? ms : null;
  }, 30_000, 'the new server to have both channels assigned again');
  for (const b of before) {
    const a = after.find((x) => x.global === b.global);
    assert.ok(a, `${b.global} mapped again`);
    assert.notEqual(a.local, b.local, 'a new local channel (the old pool is gone)');
  }
  // Both streams flow on the new mappings: the ingress and the egresses switched.
  const rules = await waitFor(async () => {
    const r = await readTranslatorRules(m);
    const ok = after.every((a) => r.some((x) => x.where === 'ingress' && `${x.to.source},${x.to.group}` === a.local));
    return ok ? r : null;
  }, 15_000, 'the ingress on the new mappings');
  assert.equal(rules.filter((r) => r.where === 'ingress').length, 2, 'no rule left on an old mapping');
  await flowing(rx1, 100, 20_000, 'v4 on the new mapping');
  await flowing(rx2, 100, 20_000, 'v6 on the new mapping');
  for (const [name, rx] of [['v4', rx1], ['v6', rx2]] as const) {
    const s = await receiverStats(rx);
    t.diagnostic(`${name}: ${s.missing} packets missed across the switch (${Math.round((s.missing / RATE) * 1000)} ms at ${RATE} pps), ${Date.now() - restartedAt} ms after the restart`);
    assert.ok(s.missing / RATE < 5, `${name}: the switch-over gap (${s.missing} packets) stays bounded`);
  }
});
