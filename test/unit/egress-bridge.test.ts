import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { planBridgeSettings } from '../../src/egress/bridge-plan.ts';
import { parseIpLinks } from '../../src/dataplane/link-info.ts';

const parseIpLinkJson = (text: string) => parseIpLinks(text)[0] ?? null;

const fixture = (name: string): string => readFileSync(new URL(`fixtures/mdb/${name}`, import.meta.url), 'utf8');

test('a default kernel bridge (captured) needs IGMPv3, MLDv2 and the querier', () => {
  const link = parseIpLinkJson(fixture('ip-link-bridge-default.json'));
  assert.ok(link);
  assert.equal(link.name, 'br-lan');
  assert.equal(link.kind, 'bridge');
  assert.equal(link.up, true);
  assert.equal(link.operstate, 'DOWN');
  const plan = planBridgeSettings(link);
  assert.deepEqual(plan.args, ['mcast_igmp_version', '3', 'mcast_mld_version', '2', 'mcast_querier', '1']);
  assert.equal(plan.changes.length, 3);
  assert.match(plan.changes[0]!, /^mcast_igmp_version 2 -> 3 \(IGMPv3/);
  assert.equal(plan.problem, undefined);
});

test('a bridge already right needs nothing; snooping off is turned on', () => {
  const text = JSON.stringify([{ ifindex: 4, ifname: 'br-lan', flags: ['UP'], operstate: 'UP', linkinfo: { info_kind: 'bridge', info_data: { mcast_snooping: 0, mcast_querier: 1, mcast_igmp_version: 3, mcast_mld_version: 2 } } }]);
  assert.deepEqual(planBridgeSettings(parseIpLinkJson(text)!).args, ['mcast_snooping', '1']);
  const ok = text.replace('"mcast_snooping":0', '"mcast_snooping":1');
  assert.deepEqual(planBridgeSettings(parseIpLinkJson(ok)!), { args: [], changes: [] });
});

test('a non-bridge is a problem, not a change; junk parses to null', () => {
  const veth = parseIpLinkJson(fixture('ip-link-veth.json'));
  assert.equal(veth?.kind, 'veth');
  assert.equal(veth?.bridge, null);
  assert.match(planBridgeSettings(veth!).problem ?? '', /v1 is not a bridge \(kind veth\)/);
  assert.equal(parseIpLinkJson('Device "x" does not exist.'), null);
  assert.equal(parseIpLinkJson('[]'), null);
});
