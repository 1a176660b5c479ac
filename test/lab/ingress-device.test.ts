// The ingress's upstream device is deleted and created again (an AMT gateway or
// PPPoE session restarting): the kernel drops the translator's filter and the
// upstream memberships with it. The ingress notices on its own, re-attaches,
// joins again, and the stream comes back without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHANNELS, MnatLab, receiverStats, waitFor } from '../../lab/mnat-lab.ts';

test('the upstream device is recreated: the ingress re-attaches and re-joins by itself', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1 });
  await m.startAll();
  const snd = m.topo.sender;
  const ing = m.topo.ingress;
  let tx = m.sender(CHANNELS.v4, { rate: 200 });
  const rx = m.receiver(m.host(1, 1), CHANNELS.v4);
  await rx.waitForJson((e) => e.event === 'first-packet', 20_000);

  // Delete the link (both veth ends go) and build it again with the same names and addresses.
  await tx.kill();
  const mark = m.ingress!.lines.length;
  await ing.ns.run(['ip', 'link', 'del', ing.up.dev]);
  await m.lab.link(ing.ns, ing.up.dev, snd.ns, snd.dev);
  for (const a of [`${ing.up.ipv4}/24`, `${ing.up.ipv6}/64`]) await ing.ns.addr(ing.up.dev, a);
  for (const a of [`${snd.ipv4}/24`, `${snd.ipv6}/64`, '23.212.185.4/32', '203.0.113.7/32']) await snd.ns.addr(snd.dev, a);
  await snd.ns.route(['224.0.0.0/4', 'dev', snd.dev]);
  await snd.ns.route(['default', 'via', ing.up.ipv4]);
  const before = (await receiverStats(rx)).unique;
  tx = m.sender(CHANNELS.v4, { rate: 200 });

  await m.ingress!.waitForLine(/translator re-attached/, 30_000, mark);
  await waitFor(async () => /0xe8010101/i.test(await ing.ns.run(['cat', '/proc/net/mcfilter'])), 15_000, 'the upstream membership again on the new up0');
  await waitFor(async () => (await receiverStats(rx)).unique >= before + 200, 20_000, 'the stream back at the host');
  const filters = (await ing.ns.run(['tc', 'filter', 'show', 'dev', ing.up.dev, 'ingress'])).split('\n').filter((l) => / bpf .* handle /.test(l));
  assert.equal(filters.length, 1, 'one translator filter on the new device');
  await tx.kill();
});
