// The LAN bridge as routers leave it before the egress starts. OpenWrt's
// netifd creates br-lan with snooping and querier off (option igmp_snooping
// unset) and the kernel's IGMPv2/MLDv1; with igmp_snooping '1' it is an
// IGMPv2/MLDv1 querier from boot, and the hosts that hear it report without
// sources (no channel can be learnt from them) for up to 260 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeArgv, type Netns } from '../../lab/lab.ts';
import { createEgressLab, eventually, isEvent, RX } from '../../lab/egress-lab.ts';

const SG4 = { source: '198.51.100.2', group: '232.1.1.1' };

/** br-lan's multicast options as `ip -d -j link` reports them. */
async function bridgeOptions(ns: Netns): Promise<Record<string, number>> {
  const out = JSON.parse(await ns.run(['ip', '-d', '-j', 'link', 'show', 'dev', 'br-lan'])) as Array<{ linkinfo: { info_data: Record<string, number> } }>;
  const d = out[0]!.linkinfo.info_data;
  return { snooping: d.mcast_snooping!, querier: d.mcast_querier!, igmp: d.mcast_igmp_version!, mld: d.mcast_mld_version! };
}

/** The IGMP version eth0 of a host speaks (/proc/net/igmp: "V2" after it heard an IGMPv2 query). */
async function hostIgmpVersion(ns: Netns): Promise<string> {
  const line = (await ns.run(['cat', '/proc/net/igmp'])).split('\n').find((l) => /\beth0\b/.test(l)) ?? '';
  return /\bV(\d)\b/.exec(line)?.[1] ?? '?';
}

test("node: br-lan as OpenWrt's netifd leaves it (snooping and querier off, IGMPv2/MLDv1): the egress makes it IGMPv3/MLDv2 first, then querier; a host that joined before is carried", async (t) => {
  const el = await createEgressLab(t, { runtime: 'node' });
  const cpe = el.topo.cpes[0]!;
  await cpe.ns.run(['ip', 'link', 'set', 'dev', 'br-lan', 'type', 'bridge', 'mcast_snooping', '0', 'mcast_querier', '0', 'mcast_igmp_version', '2', 'mcast_mld_version', '1']);
  const rx = cpe.hosts[0]!.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0']));
  await rx.waitForJson(isEvent('joined'));
  await el.startEgress();
  // The querier's first query (IGMPv3) makes the host report its source within the response interval.
  await el.waitForMapping(SG4);
  assert.deepEqual(await bridgeOptions(cpe.ns), { snooping: 1, querier: 1, igmp: 3, mld: 2 });
  assert.equal(await hostIgmpVersion(cpe.hosts[0]!.ns), '3', 'the host never heard an IGMPv2 query');
  assert.ok(!el.egress.lines.some((l) => /IGMPv2\/MLDv1 querier|without a source/.test(l)));
  assert.equal(await el.egress.kill('SIGTERM'), 0);
});

test("node: br-lan an IGMPv2 querier (netifd's igmp_snooping '1'): hosts fall back to IGMPv2, and the egress says so, naming the fix", async (t) => {
  const el = await createEgressLab(t, { runtime: 'node' });
  const cpe = el.topo.cpes[0]!;
  const host = cpe.hosts[0]!;
  // As netifd creates it: snooping and querier on, the kernel's versions; the querier
  // restarted so that its startup query goes out now.
  for (const opts of [['mcast_igmp_version', '2', 'mcast_mld_version', '1', 'mcast_querier', '0'], ['mcast_querier', '1']]) {
    await cpe.ns.run(['ip', 'link', 'set', 'dev', 'br-lan', 'type', 'bridge', ...opts]);
  }
  await eventually(async () => (await hostIgmpVersion(host.ns)) === '2', 'the host in IGMPv2 compatibility');
  host.ns.spawn(nodeArgv(RX, ['--group', SG4.group, '--source', SG4.source, '--interface', 'eth0']));
  await cpe.ns.waitForMdb('br-lan', (es) => es.some((e) => e.port === 'lan1' && e.group === SG4.group), 10_000, 'the v2 report in the table');
  await el.startEgress();
  await el.egress.waitForLine(/level=warn component=mnat-egress msg="br-lan was an IGMPv2\/MLDv1 querier: LAN hosts that heard it join without sources for up to 260 s; create it with IGMPv3\/MLDv2/, 10_000);
  await el.egress.waitForLine(/level=warn component=mnat-egress msg="join ignored" port=lan1 group=232\.1\.1\.1 reason="SSM group joined without a source: an IGMPv2\/MLDv1 report; no IGMPv2\/MLDv1 querier on the LAN/, 10_000);
  assert.equal(await hostIgmpVersion(host.ns), '2', 'still IGMPv2: the egress cannot change the host, only say why');
  assert.equal(await el.egress.kill('SIGTERM'), 0);
});
