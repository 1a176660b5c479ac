// mnat-ingress with two downstream interfaces: the translator clones every
// translated packet to both (e.g. two core uplinks, or a core and a monitoring
// port), each copy with the local (Sl,Gl) and intact payload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Capture } from '../../lab/core-capture.ts';
import { CHANNELS, MnatLab, receiverStats, waitFor } from '../../lab/mnat-lab.ts';

test('two --downstream-interface outputs: both get the translated stream, the CPE path is whole', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1 });
  const ing = m.topo.ingress;
  // A second downstream: a veth to a "tap" namespace that captures what it gets.
  const tap = await m.lab.netns('tap');
  await m.lab.link(ing.ns, 'tap0', tap, 'eth0');
  const capture = new Capture(tap, 'eth0');
  await capture.ready();
  await m.startServer();
  await Promise.all([m.startIngress(['--downstream-interface', 'tap0']), m.startEgress(1)]);
  m.sender(CHANNELS.v4, { rate: 200, stream: 1 });
  m.sender(CHANNELS.v6, { rate: 200, stream: 2 });
  const rx4 = m.receiver(m.host(1, 1), CHANNELS.v4);
  await rx4.waitForJson((e) => e.event === 'first-packet', 20_000);
  await waitFor(async () => (await receiverStats(rx4)).unique >= 400, 15_000, '400 packets at the host');
  const s = await receiverStats(rx4);
  assert.equal(s.missing, 0);
  assert.equal(s.badPayload, 0);

  const local = (await m.serverMappings()).find((x) => x.global === `${CHANNELS.v4.source},${CHANNELS.v4.group}`)!.local;
  const counts = await waitFor(() => {
    const c = capture.poll();
    return (c.byChannel.get(local) ?? 0) >= 300 ? c : null;
  }, 10_000, 'the translated stream on the second output');
  assert.deepEqual([...counts.byChannel.keys()].filter((k) => k.endsWith(`,${CHANNELS.v4.group}`)), [], 'no global group on the second output');
  // The IPv6 channel is not joined by anyone: nothing of it is translated to either output.
  assert.equal([...counts.byChannel.keys()].filter((k) => k.includes(':')).length, 0);
  await capture.stop();
});
