// Upstream joins in the lab: after a join the core's snooping table lists the
// CPE's port for (Sl,Gl) and traffic flows to the CPE; after the leave the
// entry goes and the traffic stops, while another CPE that stays joined keeps
// receiving. Socket and smcroute backends, IPv4 and IPv6; 25+ joins per socket backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, nodeArgv, mdbHasChannel, type LabProcess } from './lab.ts';
import { buildTopology } from './topology.ts';
import { startSmcrouted } from './smcroute.ts';

const RX = 'test/lab/traffic/receiver.ts';
const TX = 'test/lab/traffic/sender.ts';
const isEvent = (name: string) => (e: Record<string, unknown>) => e.event === name;

async function command(agent: LabProcess, cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
  const reply = await agent.ask(JSON.stringify(cmd), (e) => e.event === 'done' || e.event === 'error');
  if (reply.event === 'error') throw new Error(`join agent: ${String(reply.message)}`);
  return reply;
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
      const agent = c1.ns.spawn(nodeArgv('test/lab/join-agent.ts', args));
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

test('socket backend: 25 groups and 12 sources of one group on one interface (beyond 20 per socket, 10 sources per group)', async (t) => {
  const lab = await createLab(t);
  const topo = await buildTopology(lab, { cpes: 1, hostsPerCpe: 1 });
  const c1 = topo.cpes[0]!;
  const src = topo.ingress.core.ipv4;
  const agent = c1.ns.spawn(nodeArgv('test/lab/join-agent.ts', ['--backend', 'socket']));
  await agent.waitForJson(isEvent('ready'));
  const channels: Array<{ source: string; group: string }> = [];
  for (let i = 1; i <= 25; i++) channels.push({ source: src, group: `232.20.0.${i}` });
  for (let i = 1; i <= 12; i++) channels.push({ source: `10.0.0.${100 + i}`, group: '232.21.0.1' });
  let reply: Record<string, unknown> = {};
  for (const ch of channels) reply = await command(agent, { op: 'join', ...ch, device: 'wan' });
  assert.equal((reply.joined as unknown[]).length, channels.length);
  await topo.core.ns.waitForMdb('br-core', (e) => channels.every((ch) => mdbHasChannel(e, c1.corePort, ch.source, ch.group)), 10_000, 'all 37 channels');

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
