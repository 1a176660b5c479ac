// Upstream joins in the lab: after a join the core's snooping table lists the
// CPE's port for (Sl,Gl) and traffic flows to the CPE; after the leave the
// entry goes and the traffic stops, while another CPE that stays joined keeps
// receiving. Socket and smcroute backends, IPv4 and IPv6; 25+ joins per socket backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, nodeArgv, mdbHasChannel, type Lab, type LabProcess } from '../../lab/lab.ts';
import { buildTopology, type Topology } from '../../lab/topology.ts';
import { startSmcrouted } from '../../lab/smcroute.ts';

const RX = 'lab/traffic/receiver.ts';
const TX = 'lab/traffic/sender.ts';
type Ch = { source: string; group: string };
const isEvent = (name: string) => (e: Record<string, unknown>) => e.event === name;

async function command(agent: LabProcess, cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
  const reply = await agent.ask(JSON.stringify(cmd), (e) => e.event === 'done' || e.event === 'error');
  if (reply.event === 'error') throw new Error(`join agent: ${String(reply.message)}`);
  return reply;
}

/** PPPoE/DHCP style: the CPE's wan goes and comes back with the same name and address, a new ifindex. */
async function recreateWan(lab: Lab, topo: Topology, cpe: Topology['cpes'][number]): Promise<void> {
  const core = topo.core.ns;
  await cpe.ns.run(['ip', 'link', 'del', 'wan']);
  await lab.link(cpe.ns, 'wan', core, cpe.corePort);
  await core.run(['ip', 'link', 'set', cpe.corePort, 'master', 'br-core']);
  await core.run(['bridge', 'link', 'set', 'dev', cpe.corePort, 'mcast_flood', 'off', 'fastleave', 'on']);
  await cpe.ns.addr('wan', `${cpe.wan.ipv4}/24`);
}

for (const backend of ['socket', 'smcroute'] as const) {
  for (const v of [4, 6] as const) {
    test(`${backend} backend, IPv${v}: join puts the CPE port in the core's table and traffic flows; leave stops it`, async (t) => {
      const lab = await createLab(t);
      const topo = await buildTopology(lab, { cpes: 2, hostsPerCpe: 1 });
      const [c1, c2] = topo.cpes as [typeof topo.cpes[0], typeof topo.cpes[0]];
      const src = v === 4 ? topo.ingress.core.ipv4 : topo.ingress.core.ipv6;
      const group = v === 4 ? '232.10.0.1' : 'ff3e::10:1';
      const args = ['--backend', backend];
      if (backend === 'smcroute') args.push('--smcroute-socket', (await startSmcrouted(c1.ns)).socketPath);
      const agent = c1.ns.spawn(nodeArgv('lab/join-agent.ts', args));
      await agent.waitForJson(isEvent('ready'));

      // cpe1's receiver does not join itself: it sees the stream only through the joiner's membership.
      const rx1 = c1.ns.spawn(nodeArgv(RX, ['--group', group, '--no-join', '--progress', '10']));
      const rx2 = c2.ns.spawn(nodeArgv(RX, ['--group', group, '--source', src, '--interface', 'wan', '--progress', '10']));
      await rx1.waitForJson(isEvent('ready'));
      await rx2.waitForJson(isEvent('joined'));

      const reply = await command(agent, { op: 'join', source: src, group, device: 'wan' });
      assert.deepEqual(reply.joined, [{ channel: { source: src, group }, device: 'wan' }]);
      await topo.core.ns.waitForMdbChannel('br-core', c1.corePort, src, group);

      const tx = topo.ingress.ns.spawn(nodeArgv(TX, ['--group', group, '--source', src, '--interface', 'core0', '--rate', '200']));
      const first = await rx1.waitForJson(isEvent('first-packet'));
      assert.equal(first.source, src);
      await rx1.waitForJson((e) => e.event === 'progress' && Number(e.unique) >= 20);

      const left = await command(agent, { op: 'leave', source: src, group, device: 'wan' });
      assert.deepEqual(left.joined, []);
      await topo.core.ns.waitForMdbChannel('br-core', c1.corePort, src, group, false, 5000);
      // Once the table has no entry, cpe1 gets nothing more while cpe2 receives 40 more datagrams.
      const atLeave = Number((await rx1.ask('stats', isEvent('stats'))).unique);
      const rx2Now = Number((await rx2.ask('stats', isEvent('stats'))).unique);
      await rx2.waitForJson((e) => e.event === 'progress' && Number(e.unique) >= rx2Now + 40);
      const later = await rx1.ask('stats', isEvent('stats'));
      // Datagrams already in flight when the entry went (bounded by 2 at 200 pps) may still land.
      assert.ok(Number(later.unique) <= atLeave + 2, `cpe1 kept receiving after the leave: ${atLeave} -> ${String(later.unique)}`);
      await tx.kill();
      await command(agent, { op: 'close' });
    });
  }
}

for (const backend of ['socket', 'smcroute'] as const) {
test(`${backend} backend: 25 groups, 12 sources of one group (beyond 20 groups per socket and 10 sources per group) and 25 IPv6 groups on one interface`, async (t) => {
  const lab = await createLab(t);
  const topo = await buildTopology(lab, { cpes: 1, hostsPerCpe: 1 });
  const c1 = topo.cpes[0]!;
  const src = topo.ingress.core.ipv4;
  const args = ['--backend', backend];
  if (backend === 'smcroute') args.push('--smcroute-socket', (await startSmcrouted(c1.ns)).socketPath);
  const agent = c1.ns.spawn(nodeArgv('lab/join-agent.ts', args));
  await agent.waitForJson(isEvent('ready'));
  const channels: Array<{ source: string; group: string }> = [];
  for (let i = 1; i <= 25; i++) channels.push({ source: src, group: `232.20.0.${i}` });
  for (let i = 1; i <= 12; i++) channels.push({ source: `10.0.0.${100 + i}`, group: '232.21.0.1' });
  // And MLDv2 on the same interface: 25 groups from the ingress.
  for (let i = 1; i <= 25; i++) channels.push({ source: topo.ingress.core.ipv6, group: `ff3e::20:${i.toString(16)}` });
  let reply: Record<string, unknown> = {};
  // smcroute: the IPv6 groups as one batch (joinMany: one `smcroutectl -b` exec).
  const batched = backend === 'smcroute' ? channels.slice(37) : [];
  for (const ch of channels.slice(0, channels.length - batched.length)) reply = await command(agent, { op: 'join', ...ch, device: 'wan' });
  if (batched.length > 0) reply = await command(agent, { op: 'joinMany', channels: batched, device: 'wan' });
  assert.equal((reply.joined as unknown[]).length, channels.length);
  await topo.core.ns.waitForMdb('br-core', (e) => channels.every((ch) => mdbHasChannel(e, c1.corePort, ch.source, ch.group)), 10_000, 'all 62 channels');

  // Traffic on the 25th group (necessarily on a second socket) reaches the CPE.
  const rx = c1.ns.spawn(nodeArgv(RX, ['--group', '232.20.0.25', '--no-join', '--count', '10']));
  await rx.waitForJson(isEvent('ready'));
  const tx = topo.ingress.ns.spawn(nodeArgv(TX, ['--group', '232.20.0.25', '--source', src, '--rate', '200']));
  const sum = await rx.waitForJson(isEvent('summary'));
  assert.equal(sum.unique, 10);
  await tx.kill();

  const closed = await command(agent, { op: 'close' });
  assert.deepEqual(closed.joined, []);
  await topo.core.ns.waitForMdb('br-core', (e) => channels.every((ch) => !mdbHasChannel(e, c1.corePort, ch.source, ch.group)), 10_000, 'no channel left');
});
}

test('socket backend: after the device is re-created, a leave renews the socket and the other channel is joined on the new device', async (t) => {
  const lab = await createLab(t);
  const topo = await buildTopology(lab, { cpes: 1, hostsPerCpe: 1 });
  const c1 = topo.cpes[0]!;
  const core = topo.core.ns;
  const src = topo.ingress.core.ipv4;
  const [a, b] = [{ source: src, group: '232.40.0.1' }, { source: src, group: '232.40.0.2' }];
  const agent = c1.ns.spawn(nodeArgv('lab/join-agent.ts', ['--backend', 'socket']));
  await agent.waitForJson(isEvent('ready'));
  await command(agent, { op: 'join', ...a, device: 'wan' });
  await command(agent, { op: 'join', ...b, device: 'wan' });
  await core.waitForMdbChannel('br-core', c1.corePort, b.source, b.group);

  await recreateWan(lab, topo, c1);
  await core.waitForMdbChannel('br-core', c1.corePort, b.source, b.group, false);

  const left = await command(agent, { op: 'leave', ...a, device: 'wan' });
  assert.deepEqual(left.joined, [{ channel: b, device: 'wan' }]);
  await core.waitForMdbChannel('br-core', c1.corePort, b.source, b.group);
  assert.ok(!mdbHasChannel(await core.mdb('br-core'), c1.corePort, a.source, a.group));

  // The device gone for good: a leave drops what can no longer be joined from the view.
  await command(agent, { op: 'join', ...a, device: 'wan' });
  await c1.ns.run(['ip', 'link', 'del', 'wan']);
  const gone = await command(agent, { op: 'leave', ...a, device: 'wan' });
  assert.deepEqual(gone.joined, []);
});

test('smcroute backend: after the device is re-created, a join reloads smcrouted and re-joins the whole view on the new device', async (t) => {
  const lab = await createLab(t);
  const topo = await buildTopology(lab, { cpes: 1, hostsPerCpe: 1 });
  const c1 = topo.cpes[0]!;
  const core = topo.core.ns;
  const src = topo.ingress.core.ipv4;
  const [a, b, c] = [1, 2, 3].map((i) => ({ source: src, group: `232.41.0.${i}` })) as [Ch, Ch, Ch];
  const smc = await startSmcrouted(c1.ns);
  const agent = c1.ns.spawn(nodeArgv('lab/join-agent.ts', ['--backend', 'smcroute', '--smcroute-socket', smc.socketPath]));
  await agent.waitForJson(isEvent('ready'));
  await command(agent, { op: 'join', ...a, device: 'wan' });
  await command(agent, { op: 'join', ...b, device: 'wan' });
  await core.waitForMdbChannel('br-core', c1.corePort, b.source, b.group);

  await recreateWan(lab, topo, c1);

  // A leave on the old device counts as done; a new join brings the rest of the view back with it.
  const left = await command(agent, { op: 'leave', ...a, device: 'wan' });
  assert.deepEqual(left.joined, [{ channel: b, device: 'wan' }]);
  const now = await command(agent, { op: 'join', ...c, device: 'wan' });
  assert.deepEqual(now.joined, [{ channel: b, device: 'wan' }, { channel: c, device: 'wan' }]);
  await core.waitForMdb('br-core', (e) => mdbHasChannel(e, c1.corePort, b.source, b.group) && mdbHasChannel(e, c1.corePort, c.source, c.group), 10_000, 'b and c on the new device');
  assert.ok(!mdbHasChannel(await core.mdb('br-core'), c1.corePort, a.source, a.group));
  await command(agent, { op: 'close' });
  await core.waitForMdb('br-core', (e) => !e.some((x) => x.port === c1.corePort && x.group.startsWith('232.41.')), 10_000, 'all left');
});
