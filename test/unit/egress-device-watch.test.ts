import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDeviceWatch, monitorLinkName } from '../../src/egress/device-watch.ts';
import type { Host } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

test('device names from `ip monitor link` lines (captured on this kernel)', () => {
  assert.equal(monitorLinkName('2: v1@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default'), 'v1');
  assert.equal(monitorLinkName('3: v0@v1: <BROADCAST,MULTICAST,M-DOWN> mtu 1500 qdisc noop state DOWN group default'), 'v0');
  assert.equal(monitorLinkName('Deleted 3: v0@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default'), 'v0');
  assert.equal(monitorLinkName('7: pppoe-wan: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1492'), 'pppoe-wan');
  assert.equal(monitorLinkName('5: eth0.2@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500'), 'eth0.2');
  assert.equal(monitorLinkName('    link/ether fe:91:9d:14:99:c5 brd ff:ff:ff:ff:ff:ff'), null);
});

test('devices are read with the one link reader: a router with only BusyBox ip is read from sysfs', async () => {
  const time = createVirtualTime();
  const files: Record<string, string> = {
    '/sys/class/net/wan/ifindex': '7\n',
    '/sys/class/net/wan/flags': '0x1003\n',
    '/sys/class/net/br-lan/ifindex': '4\n',
    '/sys/class/net/br-lan/flags': '0x1003\n',
    '/sys/class/net/br-lan/uevent': 'DEVTYPE=bridge\n',
  };
  const host = {
    exec: async () => ({ code: 1, stdout: '', stderr: "ip: invalid option -- 'd'\nBusyBox v1.36.1 multi-call binary.\n\nUsage: ip [OPTIONS]" }),
    spawnLines: () => ({ kill() {} }),
    readFile: (p: string) => files[p] ?? null,
    now: time.now,
    setTimeout: time.setTimeout,
    clearTimeout: time.clearTimeout,
    log: { debug() {}, info() {}, warn() {}, error() {} },
  } as unknown as Host;
  const seen: string[] = [];
  const watch = createDeviceWatch(host, host.log, (name, link) => seen.push(`${name} ${link ? `${link.ifindex} ${link.kind} up=${link.up}` : 'missing'}`));
  watch.setDevices(['wan', 'br-lan', 'gone0']);
  await watch.start();
  assert.deepEqual(seen, ['wan 7 null up=true', 'br-lan 4 bridge up=true', 'gone0 missing']);
  assert.equal(watch.get('br-lan')?.kind, 'bridge');
  watch.stop();
  assert.equal(time.pending(), 0);
});
