// The agents started as users start them: from dist/, under `ip netns exec`,
// which gives each its own mount namespace with a fresh /sys where nobody
// mounted bpffs. Each agent mounts it itself and carries traffic end to end.
// (Before, Node's recursive mkdir spun for ever on that /sys: these tests then
// end by their bounded waits.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeArgv } from '../../lab/lab.ts';
import { createEgressLab, isEvent, requirements, RX, TX, type Runtime } from '../../lab/egress-lab.ts';
import { CHANNELS, MnatLab, receiverStats, waitFor } from '../../lab/mnat-lab.ts';

const SG = { source: '198.51.100.2', group: '232.1.1.1' };
const MOUNTED = /msg="mounted bpffs" at=\/sys\/fs\/bpf was=sysfs/;

for (const runtime of ['node', 'qjs'] as Runtime[]) {
  test(`egress on ${runtime} under ip netns exec: mounts bpffs, a host's join is carried, SIGTERM ends it cleanly`, async (t) => {
    assert.equal(requirements(runtime, true), null);
    const el = await createEgressLab(t, { runtime, asUser: true });
    const egress = await el.startEgress();
    const host = el.topo.cpes[0]!.hosts[0]!;
    const rx = host.ns.spawn(nodeArgv(RX, ['--group', SG.group, '--source', SG.source, '--interface', 'eth0']));
    const local = await el.waitForMapping(SG);
    await el.topo.core.ns.waitForMdbChannel('br-core', el.topo.cpes[0]!.corePort, local.source, local.group);
    el.topo.ingress.ns.spawn(nodeArgv(TX, ['--group', local.group, '--interface', 'core0', '--rate', '100']));
    const first = await rx.waitForJson(isEvent('first-packet'), 10_000);
    assert.equal(first.source, SG.source, 'the host gets the global source');
    assert.ok(egress.lines.some((l) => MOUNTED.test(l)), 'the egress mounted bpffs in its own namespace');
    assert.equal(await egress.kill('SIGTERM'), 0, 'a clean stop');
  });
}

test('the whole system with the agents under ip netns exec (ingress on Node, egress on qjs): the LAN host receives the global stream', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1, asUser: true, egressRuntime: 'qjs' });
  await m.startAll();
  m.sender(CHANNELS.v4, { rate: 200 });
  const rx = m.receiver(m.host(1, 1), CHANNELS.v4);
  const first = await rx.waitForJson(isEvent('first-packet'), 20_000);
  assert.equal(first.source, CHANNELS.v4.source);
  assert.equal(first.group, CHANNELS.v4.group);
  await waitFor(async () => (await receiverStats(rx)).unique >= 200, 15_000, '200 packets at the host');
  const s = await receiverStats(rx);
  assert.equal(s.badPayload, 0);
  assert.deepEqual(Object.keys(s.sources), [CHANNELS.v4.source]);
  for (const agent of [m.ingress!, m.egress[0]!]) assert.ok(agent.lines.some((l) => MOUNTED.test(l)), 'each agent mounted bpffs in its own namespace');
  assert.equal(await m.ingress!.kill('SIGTERM'), 0);
  assert.equal(await m.egress[0]!.kill('SIGTERM'), 0);
});
