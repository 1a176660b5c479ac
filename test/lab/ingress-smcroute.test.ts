// mnat-ingress with the smcroute join backend (`smcroutectl join`, as a router
// without the socket backend would use): the upstream membership is made by
// smcrouted, the stream flows end to end, and SIGTERM leaves it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHANNELS, MnatLab, waitFor } from '../../lab/mnat-lab.ts';
import { startSmcrouted } from '../../lab/smcroute.ts';

test('--join-backend smcroute: upstream joins through smcrouted, stream flows, SIGTERM leaves', async (t) => {
  const m = await MnatLab.create(t, { cpes: 1, hostsPerCpe: 1 });
  const ing = m.topo.ingress;
  const smc = await startSmcrouted(ing.ns);
  await m.startServer();
  await Promise.all([m.startIngress(['--join-backend', 'smcroute', '--smcroute-socket', smc.socketPath]), m.startEgress(1)]);
  m.sender(CHANNELS.v4, { rate: 200 });
  const rx = m.receiver(m.host(1, 1), CHANNELS.v4);
  const first = await rx.waitForJson((e) => e.event === 'first-packet', 20_000);
  assert.equal(first.source, CHANNELS.v4.source);
  const groups = await ing.ns.run([...smc.ctl, 'show', 'groups']);
  assert.match(groups, /23\.212\.185\.4.*232\.1\.1\.1|232\.1\.1\.1.*23\.212\.185\.4/, 'smcrouted holds the (S,G) join');
  assert.match(await ing.ns.run(['cat', '/proc/net/mcfilter']), /up0\s+0xe8010101\s+0x17d4b904/i, 'the kernel membership is on up0');
  assert.equal(await m.ingress!.kill('SIGTERM'), 0);
  await waitFor(async () => !/0xe8010101/i.test(await ing.ns.run(['cat', '/proc/net/mcfilter'])), 5000, 'the membership gone after SIGTERM');
});
