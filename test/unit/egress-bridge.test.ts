import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { planBridgeSettings } from '../../src/egress/bridge-plan.ts';
import { parseIpLinks } from '../../src/dataplane/link-info.ts';

const parseIpLinkJson = (text: string) => parseIpLinks(text)[0] ?? null;

const fixture = (name: string): string => readFileSync(new URL(`fixtures/mdb/${name}`, import.meta.url), 'utf8');

test('a default kernel bridge (captured) needs IGMPv3, MLDv2 and the querier: the versions in a message before the querier', () => {
  const link = parseIpLinkJson(fixture('ip-link-bridge-default.json'));
  assert.ok(link);
  assert.equal(link.name, 'br-lan');
  assert.equal(link.kind, 'bridge');
  assert.equal(link.up, true);
  assert.equal(link.operstate, 'DOWN');
  const plan = planBridgeSettings(link);
  // In one message the kernel turns the querier on before it changes the versions, and the
  // first query may leave as IGMPv2: hosts then report without sources for 260 s.
  assert.deepEqual(plan.batch, ['link set dev br-lan type bridge mcast_igmp_version 3 mcast_mld_version 2', 'link set dev br-lan type bridge mcast_querier 1']);
  assert.equal(plan.changes.length, 3);
  assert.equal(plan.warning, undefined, 'not a querier yet: no host heard an IGMPv2 query from it');
  assert.match(plan.changes[0]!, /^mcast_igmp_version 2 -> 3 \(IGMPv3/);
  assert.equal(plan.problem, undefined);
});

const bridge = (data: Record<string, number>) => parseIpLinkJson(JSON.stringify([{ ifindex: 4, ifname: 'br-lan', flags: ['UP'], operstate: 'UP', linkinfo: { info_kind: 'bridge', info_data: data } }]))!;

test('a bridge already right needs nothing; snooping off is turned on', () => {
  assert.deepEqual(planBridgeSettings(bridge({ mcast_snooping: 0, mcast_querier: 1, mcast_igmp_version: 3, mcast_mld_version: 2 })).batch, ['link set dev br-lan type bridge mcast_snooping 1']);
  const done = planBridgeSettings(bridge({ mcast_snooping: 1, mcast_querier: 1, mcast_igmp_version: 3, mcast_mld_version: 2 }));
  assert.deepEqual([done.batch, done.changes, done.warning, done.problem], [[], [], undefined, undefined]);
});

test("OpenWrt's default br-lan (netifd: snooping and querier off, the kernel's IGMPv2/MLDv1): versions first, then snooping with the querier", () => {
  const plan = planBridgeSettings(bridge({ mcast_snooping: 0, mcast_querier: 0, mcast_igmp_version: 2, mcast_mld_version: 1 }));
  assert.deepEqual(plan.batch, [
    'link set dev br-lan type bridge mcast_igmp_version 3 mcast_mld_version 2',
    'link set dev br-lan type bridge mcast_snooping 1 mcast_querier 1',
  ]);
  assert.equal(plan.warning, undefined);
});

test("netifd's igmp_snooping '1' (an IGMPv2/MLDv1 querier from boot): the change comes with a warning that names the fix", () => {
  const plan = planBridgeSettings(bridge({ mcast_snooping: 1, mcast_querier: 1, mcast_igmp_version: 2, mcast_mld_version: 1 }));
  assert.deepEqual(plan.batch, ['link set dev br-lan type bridge mcast_igmp_version 3 mcast_mld_version 2']);
  assert.match(plan.warning ?? '', /br-lan was an IGMPv2\/MLDv1 querier: LAN hosts that heard it join without sources for up to 260 s; create it with IGMPv3\/MLDv2/);
});

test('a non-bridge is a problem, not a change; junk parses to null', () => {
  const veth = parseIpLinkJson(fixture('ip-link-veth.json'));
  assert.equal(veth?.kind, 'veth');
  assert.equal(veth?.bridge, null);
  assert.match(planBridgeSettings(veth!).problem ?? '', /v1 is not a bridge \(kind veth\)/);
  assert.equal(parseIpLinkJson('Device "x" does not exist.'), null);
  assert.equal(parseIpLinkJson('[]'), null);
});
