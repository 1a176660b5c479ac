// DNS-SD discovery, pure parts: resolv.conf, RFC 2782 SRV order (seeded
// random), RFC 6763 TXT keys, the PTR → SRV → TXT walk over search domains
// with a scripted lookup, and BusyBox nslookup's output as the real applet
// prints it (captured from BusyBox 1.35's nslookup against dnsmasq 2.90).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiRootFromTxt, discoverMnat, DiscoveryError, orderSrv, parseResolvConf, parseTxt, serviceOrigins, type DnsSdLookup, type SrvRecord } from '../../src/core/dns-sd.ts';
import { parseNslookup } from '../../src/core/dns-sd-busybox.ts';
import { createSeededRandom } from '../../src/server/state/pool.ts';

const seeded = createSeededRandom;

const srv = (name: string, priority: number, weight: number, port = 8443): SrvRecord => ({ name, priority, weight, port });

test('resolv.conf: the last search/domain line wins (C library rule); comments; netifd files accumulate', () => {
  const etc = '# generated\nnameserver 10.0.0.254\nnameserver fd00:c0::fe\ndomain old.example\nsearch ISP.example. lan isp.example\n; options ndots:1\noptions ndots:2\n';
  assert.deepEqual(parseResolvConf(etc), { nameservers: ['10.0.0.254', 'fd00:c0::fe'], search: ['isp.example', 'lan'] });
  assert.deepEqual(parseResolvConf('search a.example\ndomain b.example\n').search, ['b.example']);
  assert.deepEqual(parseResolvConf('').search, []);
  assert.deepEqual(parseResolvConf('search .\n').search, [], 'the root is not a search domain');
  // OpenWrt netifd: /tmp/resolv.conf.d/resolv.conf.auto, one search line per domain learnt.
  const netifd = '# Interface wan\nnameserver 192.0.2.53\nsearch isp.example\nsearch customers.isp.example\n';
  assert.deepEqual(parseResolvConf(netifd, 'all').search, ['isp.example', 'customers.isp.example']);
  assert.deepEqual(parseResolvConf(netifd).search, ['customers.isp.example'], 'with the C library rule only the last line would count');
});

test('SRV order: ascending priority, then weighted random without replacement (RFC 2782)', () => {
  const records = [srv('c', 20, 0), srv('a1', 10, 1), srv('b', 30, 5), srv('a3', 10, 3)];
  for (let seed = 1; seed <= 50; seed++) {
    const order = orderSrv(records, seeded(seed)).map((r) => r.name);
    assert.deepEqual(order.slice(2), ['c', 'b'], 'priority 10 first, then 20, then 30');
    assert.deepEqual([...order.slice(0, 2)].sort(), ['a1', 'a3']);
  }
  // Weights: a3 (3) is drawn first about 3/4 of the time, a1 (1) about 1/4.
  const random = seeded(42);
  let a3First = 0;
  const n = 8000;
  for (let i = 0; i < n; i++) if (orderSrv(records, random)[0]!.name === 'a3') a3First++;
  assert.ok(Math.abs(a3First / n - 0.75) < 0.02, `a3 first ${a3First}/${n}`);
  // The draw itself: x owns [0, 1/4) of the range, y [1/4, 1).
  assert.equal(orderSrv([srv('x', 1, 1), srv('y', 1, 3)], () => 0.24)[0]!.name, 'x');
  assert.equal(orderSrv([srv('x', 1, 1), srv('y', 1, 3)], () => 0.25)[0]!.name, 'y');
  // Weight 0 comes after every weighted record of its priority; among zeros the order is random.
  const zero = [srv('zero', 1, 0), srv('heavy', 1, 10), srv('zero2', 1, 0)];
  for (let seed = 1; seed <= 20; seed++) assert.equal(orderSrv(zero, seeded(seed))[0]!.name, 'heavy');
  const zeros = new Set<string>();
  for (let seed = 1; seed <= 20; seed++) zeros.add(orderSrv(zero, seeded(seed))[1]!.name);
  assert.deepEqual([...zeros].sort(), ['zero', 'zero2']);
  assert.deepEqual(orderSrv([], Math.random), []);
});

test('TXT keys: case-insensitive, first wins, boolean attributes, path → API root', () => {
  const txt = parseTxt(['txtvers=1', 'Path=/mnat-ds/', 'path=/ignored', 'tls', '=nokey', 'empty=']);
  assert.deepEqual(txt, { txtvers: '1', path: '/mnat-ds/', tls: true, empty: '' });
  assert.equal(apiRootFromTxt(txt), '/mnat-ds');
  assert.equal(apiRootFromTxt({}), '/restconf');
  assert.equal(apiRootFromTxt({ path: 'relative' }), '/restconf', 'a path must start with /');
  assert.equal(apiRootFromTxt({ path: true }), '/restconf');
});

function scriptedLookup(zone: Record<string, unknown>, log: string[]): DnsSdLookup {
  const get = async <T>(type: string, name: string): Promise<T[]> => {
    log.push(`${type} ${name}`);
    const v = zone[`${type} ${name}`];
    if (v instanceof Error) throw v;
    return (v as T[] | undefined) ?? [];
  };
  return {
    ptr: (n) => get('PTR', n),
    srv: (n) => get('SRV', n),
    txt: (n) => get('TXT', n),
    addresses: (n) => get('A', n),
  };
}

test('discovery walks the search domains in order: PTR → SRV → address → TXT', async () => {
  const log: string[] = [];
  const zone = {
    'PTR _mnat._tcp.isp.example': ['mnat._mnat._tcp.isp.example'],
    'SRV mnat._mnat._tcp.isp.example': [srv('backup.isp.example', 20, 0, 9443), srv('down.isp.example', 10, 5), srv('mnat.isp.example', 10, 0, 8444)],
    'A mnat.isp.example': ['10.0.0.254'],
    'A backup.isp.example': ['10.0.0.253'],
    'TXT mnat._mnat._tcp.isp.example': [['path=/mnat-ds', 'txtvers=1']],
  };
  // In priority 10 "down" (weight 5) comes before "mnat" (weight 0); it has no address.
  // Every target with an address is kept, in RFC 2782 order: the servers to fail over to.
  const found = await discoverMnat(scriptedLookup(zone, log), ['lan', 'isp.example'], () => 0.99);
  assert.deepEqual(found, {
    instance: 'mnat._mnat._tcp.isp.example',
    host: 'mnat.isp.example',
    port: 8444,
    targets: [{ host: 'mnat.isp.example', port: 8444 }, { host: 'backup.isp.example', port: 9443 }],
    apiRoot: '/mnat-ds',
    domain: 'isp.example',
  });
  assert.deepEqual(serviceOrigins(found, 'https'), ['https://mnat.isp.example:8444', 'https://backup.isp.example:9443']);
  assert.deepEqual(serviceOrigins({ ...found, targets: [{ host: '2001:db8::1', port: 8443 }] }, 'http'), ['http://[2001:db8::1]:8443']);
  assert.deepEqual(log, [
    'PTR _mnat._tcp.lan',
    'PTR _mnat._tcp.isp.example',
    'SRV mnat._mnat._tcp.isp.example',
    'A down.isp.example',
    'A mnat.isp.example',
    'A backup.isp.example',
    'TXT mnat._mnat._tcp.isp.example',
  ]);
});

test('discovery failures name every question asked', async () => {
  const log: string[] = [];
  await assert.rejects(
    discoverMnat(scriptedLookup({ 'PTR _mnat._tcp.b.example': new Error('ETIMEOUT from 10.0.0.53') }, log), ['a.example', 'b.example']),
    (err: unknown) => {
      assert.ok(err instanceof DiscoveryError);
      assert.equal(
        err.message,
        'no MNAT service (_mnat._tcp) found by DNS-SD in a.example, b.example; asked PTR _mnat._tcp.a.example: no records; PTR _mnat._tcp.b.example: ETIMEOUT from 10.0.0.53',
      );
      assert.equal(err.asked.length, 2);
      return true;
    },
  );
  // An SRV pointing nowhere says so.
  const nowhere = {
    'PTR _mnat._tcp.isp.example': ['x._mnat._tcp.isp.example'],
    'SRV x._mnat._tcp.isp.example': [srv('nowhere.isp.example', 0, 0)],
  };
  await assert.rejects(discoverMnat(scriptedLookup(nowhere, []), ['isp.example']), /^DiscoveryError: SRV x\._mnat\._tcp\.isp\.example points to nowhere\.isp\.example:8443, which has no address \(A\/AAAA\); asked .*A\/AAAA nowhere\.isp\.example: no address$/);
  // "." as the only target: decidedly not available.
  const dot = { 'PTR _mnat._tcp.isp.example': ['x._mnat._tcp.isp.example'], 'SRV x._mnat._tcp.isp.example': [srv('', 0, 0)] };
  await assert.rejects(discoverMnat(scriptedLookup(dot, []), ['isp.example']), /"\." \(no service\)/);
  await assert.rejects(discoverMnat(scriptedLookup({}, []), []), /no search domain \(resolv\.conf\)/);
});

// Captured: busybox nslookup -q=TYPE NAME 127.0.0.53 (BusyBox v1.35.0, Debian), dnsmasq 2.90.
const BB_HEAD = 'Server:\t\t127.0.0.53\nAddress:\t127.0.0.53:53\n\n';

test('BusyBox nslookup output: PTR, SRV, TXT (first string only), NXDOMAIN, refused, no server', () => {
  assert.deepEqual(parseNslookup('PTR', 0, `${BB_HEAD}_mnat._tcp.example.net\tname = mnat._mnat._tcp.example.net\n\n`, ''), [['mnat._mnat._tcp.example.net']]);
  assert.deepEqual(
    parseNslookup('SRV', 0, `${BB_HEAD}mnat._mnat._tcp.example.net\tservice = 20 0 8444 server2.example.net\nmnat._mnat._tcp.example.net\tservice = 10 5 8443 server.example.net\n\n`, ''),
    [['20', '0', '8444', 'server2.example.net'], ['10', '5', '8443', 'server.example.net']],
  );
  assert.deepEqual(parseNslookup('TXT', 0, `${BB_HEAD}mnat._mnat._tcp.example.net\ttext = "path=/restconf"\n\n`, ''), [['path=/restconf']]);
  // NXDOMAIN: "no records", whatever the exit code (upstream exits 1, OpenWrt's nslookup_lede 0).
  assert.deepEqual(parseNslookup('PTR', 1, `${BB_HEAD}** server can't find _mnat._tcp.nowhere.example: NXDOMAIN\n\n`, ''), []);
  assert.deepEqual(parseNslookup('SRV', 0, `${BB_HEAD}*** Can't find x.example: No answer\n\n`, ''), []);
  assert.throws(() => parseNslookup('PTR', 1, `${BB_HEAD}** server can't find _mnat._tcp.nowhere.net: REFUSED\n\n`, ''), /busybox nslookup: REFUSED/);
  assert.throws(() => parseNslookup('PTR', 1, '', ';; connection timed out; no servers could be reached\n'), /busybox nslookup: timed out/);
  assert.throws(() => parseNslookup('SRV', 127, '', 'busybox: spawn busybox ENOENT\n'), /busybox nslookup: busybox: spawn busybox ENOENT/);
});
