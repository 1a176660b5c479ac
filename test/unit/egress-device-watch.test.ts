import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorLinkName } from '../../src/egress/device-watch.ts';

test('device names from `ip monitor link` lines (captured on this kernel)', () => {
  assert.equal(monitorLinkName('2: v1@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default'), 'v1');
  assert.equal(monitorLinkName('3: v0@v1: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN group default'), 'v0');
  assert.equal(monitorLinkName('Deleted 3: v0@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default'), 'v0');
  assert.equal(monitorLinkName('7: pppoe-wan: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1492'), 'pppoe-wan');
  assert.equal(monitorLinkName('5: eth0.2@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500'), 'eth0.2');
  assert.equal(monitorLinkName('    link/ether fe:91:9d:14:99:c5 brd ff:ff:ff:ff:ff:ff'), null);
});
