import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalAddress,
  formatPrefix,
  IPV4_MULTICAST,
  IPV4_SSM,
  IPV6_MULTICAST,
  isMulticast,
  isSsmGroup,
  multicastMac,
  nonGlobalSourceReason,
  parseAddress,
  parsePrefix,
  prefixContains,
  prefixSize,
  tryParseAddress,
  tryParsePrefix,
  unforwardedGroupReason,
} from '../../src/core/address.ts';
import { canonicalChannel, channelFromKey, channelKey, parseChannel } from '../../src/core/channel.ts';

test('IPv4 parses and formats', () => {
  assert.equal(parseAddress('23.212.185.4').value, 0x17d4b904n);
  assert.equal(canonicalAddress('232.1.1.1'), '232.1.1.1');
  for (const bad of ['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', '', ' 1.2.3.4', '1.2.3.4 ']) {
    assert.equal(tryParseAddress(bad), null, bad);
  }
});

test('IPv6 parses and formats per RFC 5952', () => {
  assert.equal(canonicalAddress('FF3E:0:0:0:0:0:0:1'), 'ff3e::1');
  assert.equal(canonicalAddress('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(canonicalAddress('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  assert.equal(canonicalAddress('::'), '::');
  assert.equal(canonicalAddress('::1'), '::1');
  assert.equal(canonicalAddress('1::'), '1::');
  assert.equal(canonicalAddress('::ffff:1.2.3.4'), '::ffff:102:304');
  for (const bad of ['1:2:3:4:5:6:7', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', ':1', '::1.2.3']) {
    assert.equal(tryParseAddress(bad), null, bad);
  }
});

test('prefixes: parse, contain, size, host bits named', () => {
  const p = parsePrefix('232.0.0.0/8');
  assert.equal(prefixSize(p), 1n << 24n);
  assert.ok(prefixContains(p, parseAddress('232.255.1.2')));
  assert.ok(!prefixContains(p, parseAddress('233.0.0.0')));
  assert.ok(!prefixContains(p, parseAddress('ff3e::1')));
  assert.equal(formatPrefix(parsePrefix('ff3e::/96')), 'ff3e::/96');
  assert.equal(formatPrefix(parsePrefix('10.1.2.3')), '10.1.2.3/32');
  assert.throws(() => parsePrefix('10.1.2.3/8'), /host bits set; did you mean 10.0.0.0\/8/);
  assert.equal(tryParsePrefix('10.0.0.0/33'), null);
  assert.equal(tryParsePrefix('::/129'), null);
  assert.equal(formatPrefix(parsePrefix('0.0.0.0/0')), '0.0.0.0/0');
});

test('multicast and SSM ranges', () => {
  assert.ok(isMulticast(parseAddress('224.0.0.1')));
  assert.ok(!isMulticast(parseAddress('223.255.255.255')));
  assert.ok(isSsmGroup(parseAddress('232.1.1.1')));
  assert.ok(!isSsmGroup(parseAddress('239.1.1.1')));
  assert.ok(isSsmGroup(parseAddress('ff3e::8000:1')));
  assert.ok(isSsmGroup(parseAddress('ff35::1')));
  assert.ok(!isSsmGroup(parseAddress('ff3e:1::1')));
  assert.ok(!isSsmGroup(parseAddress('ff0e::1')));
});

test('multicast MACs', () => {
  assert.equal(multicastMac(parseAddress('232.129.1.1')), '01:00:5e:01:01:01');
  assert.equal(multicastMac(parseAddress('ff3e::1234:5678')), '33:33:12:34:56:78');
});

test('channels: validation names the bad member, keys are canonical', () => {
  assert.throws(() => parseChannel('10.0.0.1', '10.0.0.2'), /group 10.0.0.2 is not a multicast/);
  assert.throws(() => parseChannel('232.0.0.1', '232.0.0.2'), /source 232.0.0.1 is not a unicast/);
  assert.throws(() => parseChannel('10.0.0.1', 'ff3e::1'), /different IP families/);
  assert.throws(() => parseChannel('x', '232.1.1.1'), /source "x" is not an IP address/);
  const ch = canonicalChannel('2001:DB8::0:1', 'FF3E::0:8000:1');
  assert.deepEqual(ch, { source: '2001:db8::1', group: 'ff3e::8000:1' });
  assert.equal(channelKey(ch), '2001:db8::1,ff3e::8000:1');
  assert.deepEqual(channelFromKey(' 23.212.185.4 , 232.1.1.1'), { source: '23.212.185.4', group: '232.1.1.1' });
});

test('isMulticast, isSsmGroup and the 224.0.0.0/24 check (bit tests) agree with the prefixes at every edge', () => {
  const edges = ['0.0.0.0', '223.255.255.255', '224.0.0.0', '224.0.0.255', '224.0.1.0', '231.255.255.255', '232.0.0.0', '232.255.255.255', '233.0.0.0', '239.255.255.255', '240.0.0.0', '255.255.255.255', '::', 'feff:ffff::', 'ff00::', 'ff02::1', 'ff2f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ff30::', 'ff3f:0:ffff:ffff:ffff:ffff:ffff:ffff', 'ff3f:1::', 'ff40::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:224.0.0.1', '::ffff:232.0.0.1'];
  const ssm6 = Array.from({ length: 16 }, (_, x) => parsePrefix(`ff3${x.toString(16)}::/32`));
  for (const text of edges) {
    const a = parseAddress(text);
    assert.equal(isMulticast(a), prefixContains(a.family === 4 ? IPV4_MULTICAST : IPV6_MULTICAST, a), text);
    assert.equal(isSsmGroup(a), a.family === 4 ? prefixContains(IPV4_SSM, a) : ssm6.some((p) => prefixContains(p, a)), text);
    if (a.family === 4) assert.equal(unforwardedGroupReason(a) !== null, prefixContains(parsePrefix('224.0.0.0/24'), a), text);
  }
});

test('sources that are never global: loopback, 0.0.0.0/8, link-local, IPv4-mapped; their neighbours are fine', () => {
  const why = (a: string) => nonGlobalSourceReason(parseAddress(a));
  for (const [a, re] of [
    ['127.0.0.1', /loopback/],
    ['::1', /loopback/],
    ['0.1.2.3', /0\.0\.0\.0\/8/],
    ['0.255.255.255', /0\.0\.0\.0\/8/],
    ['169.254.1.1', /link-local \(169\.254/],
    ['fe80::1', /link-local \(fe80/],
    ['febf:ffff::1', /link-local/],
    ['::ffff:127.0.0.1', /IPv4-mapped.*give 127\.0\.0\.1 with an IPv4 group/],
    ['::ffff:0.0.0.0', /IPv4-mapped/],
    ['::ffff:192.0.2.1', /IPv4-mapped/],
  ] as const) {
    assert.match(why(a) ?? '', re, a);
  }
  for (const a of ['1.0.0.0', '126.255.255.255', '128.0.0.0', '169.253.255.255', '169.255.0.0', '192.0.2.1', '2001:db8::1', 'fec0::1', 'fe7f::1', '::fffe:1.2.3.4', '::1:ffff:1.2.3.4', '::2']) {
    assert.equal(why(a), null, a);
  }
});
