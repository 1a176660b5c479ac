import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLink, listLinks } from '../../src/dataplane/link-info.ts';
import type { ExecResult, Host } from '../../src/host/host.ts';

function fakeHost(exec: (argv: readonly string[]) => ExecResult, files: Record<string, string> = {}): Host {
  return { exec: async (argv: readonly string[]) => exec(argv), readFile: (p: string) => files[p] ?? null } as unknown as Host;
}

test('ip -j link: ifindex and MAC; a missing device is null', async () => {
  const host = fakeHost((argv) =>
    argv.includes('eth9')
      ? { code: 1, stdout: '', stderr: 'Device "eth9" does not exist.\n' }
      : { code: 0, stdout: '[{"ifindex":3,"ifname":"wan","address":"02:AA:bb:cc:dd:ee"}]', stderr: '' },
  );
  assert.deepEqual(await findLink(host, 'wan'), { name: 'wan', ifindex: 3, mac: '02:aa:bb:cc:dd:ee', up: false, operstate: 'UNKNOWN', kind: null, linkType: null, bridge: null });
  assert.equal(await findLink(host, 'eth9'), null);
});

test('without an iproute2 ip (BusyBox or none) the lookups read sysfs', async () => {
  const files = {
    '/proc/net/dev': 'Inter-|   Receive\n face |bytes\n    lo: 0 0\n  wan: 1 2\n',
    '/sys/class/net/wan/ifindex': '7\n',
    '/sys/class/net/wan/address': '02:00:00:00:00:07\n',
    '/sys/class/net/wan/type': '512\n',
    '/sys/class/net/lo/ifindex': '1\n',
    '/sys/class/net/lo/address': '00:00:00:00:00:00\n',
  };
  for (const exec of [
    (): ExecResult => ({ code: 127, stdout: '', stderr: 'ip: not found' }),
    (): ExecResult => ({ code: 1, stdout: '', stderr: 'ip: invalid option -- \'j\'\nBusyBox v1.36.1 multi-call binary.\n\nUsage: ip [OPTIONS]' }),
  ]) {
    const host = fakeHost(exec, files);
    assert.deepEqual(await findLink(host, 'wan'), { name: 'wan', ifindex: 7, mac: '02:00:00:00:00:07', up: false, operstate: 'UNKNOWN', kind: null, linkType: 'ppp', bridge: null });
    assert.equal(await findLink(host, 'nope'), null);
    assert.equal(await findLink(host, '../x'), null);
    assert.deepEqual((await listLinks(host)).map((l) => [l.name, l.ifindex]), [['lo', 1], ['wan', 7]]);
  }
});

test('details: kind and bridge options from ip -d, or from sysfs without an iproute2 ip', async () => {
  const withIp = fakeHost((argv) => {
    assert.deepEqual(argv, ['ip', '-d', '-j', 'link', 'show', 'dev', 'br-lan']);
    return { code: 0, stdout: '[{"ifindex":4,"ifname":"br-lan","flags":["BROADCAST","UP"],"operstate":"UP","link_type":"ether","linkinfo":{"info_kind":"bridge","info_data":{"mcast_snooping":1,"mcast_querier":0,"stp_state":0}}}]', stderr: '' };
  });
  const expected = { name: 'br-lan', ifindex: 4, mac: '00:00:00:00:00:00', up: true, operstate: 'UP', kind: 'bridge', linkType: 'ether', bridge: { mcast_snooping: 1, mcast_querier: 0, stp_state: 0 } };
  assert.deepEqual(await findLink(withIp, 'br-lan', true), expected);
  const busybox = fakeHost(() => ({ code: 1, stdout: '', stderr: "ip: invalid option -- 'd'\nBusyBox v1.36.1 multi-call binary." }), {
    '/sys/class/net/br-lan/ifindex': '4\n',
    '/sys/class/net/br-lan/address': '02:00:00:00:00:04\n',
    '/sys/class/net/br-lan/flags': '0x1003\n',
    '/sys/class/net/br-lan/operstate': 'up\n',
    '/sys/class/net/br-lan/uevent': 'DEVTYPE=bridge\nINTERFACE=br-lan\nIFINDEX=4\n',
    '/sys/class/net/br-lan/type': '1\n',
    '/sys/class/net/wan/ifindex': '7\n',
    '/sys/class/net/wan/flags': '0x1002\n',
  });
  // A bridge's options come only from ip -d: none known, so the bridge setup changes nothing.
  assert.deepEqual(await findLink(busybox, 'br-lan', true), {
    name: 'br-lan', ifindex: 4, mac: '02:00:00:00:00:04', up: true, operstate: 'UP', kind: 'bridge', linkType: 'ether', bridge: {},
  });
  assert.deepEqual(await findLink(busybox, 'wan', true), { name: 'wan', ifindex: 7, mac: '00:00:00:00:00:00', up: false, operstate: 'UNKNOWN', kind: null, linkType: null, bridge: null });
});
