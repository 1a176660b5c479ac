import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bytesFromJson,
  decodeAttach,
  decodeCounter,
  decodeKey,
  decodeRuleEntry,
  decodeValue,
  encodeAttach,
  encodeKey,
  encodeValue,
  hexArgs,
  parseMapDump,
  sumCounters,
  KEY_SIZE,
  VALUE_SIZE,
} from '../../src/dataplane/bpf-map-codec.ts';
import { DataplaneError } from '../../src/dataplane/tool-exec.ts';

const hex = (b: Uint8Array) => hexArgs(b).join('');

test('IPv4 key: family, pad, source and group in the first 4 bytes of each slot', () => {
  const key = encodeKey({ source: '10.0.0.1', group: '232.1.2.3' });
  assert.equal(key.length, KEY_SIZE);
  assert.equal(hex(key), '04000000' + '0a000001' + '00'.repeat(12) + 'e8010203' + '00'.repeat(12));
  assert.deepEqual(decodeKey(key), { source: '10.0.0.1', group: '232.1.2.3' });
});

test('IPv6 key round-trips and canonicalises', () => {
  const key = encodeKey({ source: '2001:DB8::0:7', group: 'ff3e:0::1' });
  assert.equal(hex(key), '06000000' + '20010db8' + '00'.repeat(11) + '07' + 'ff3e' + '00'.repeat(13) + '01');
  assert.deepEqual(decodeKey(key), { source: '2001:db8::7', group: 'ff3e::1' });
});

test('keys reject mixed families, unicast groups and bad family bytes', () => {
  assert.throws(() => encodeKey({ source: '10.0.0.1', group: 'ff3e::1' }), /different IP families/);
  assert.throws(() => encodeKey({ source: '10.0.0.1', group: '10.0.0.2' }), /not a multicast/);
  const bad = new Uint8Array(KEY_SIZE);
  bad[0] = 5;
  assert.throws(() => decodeKey(bad), (e: unknown) => e instanceof DataplaneError && e.kind === 'bad-map-data');
  assert.throws(() => decodeKey(new Uint8Array(10)), /10 bytes, expected 36/);
});

test('value layout: addresses, ifindexes in the given byte order, MACs, count, flags', () => {
  const value = {
    to: { source: '198.51.100.7', group: '232.200.3.4' },
    outputs: [
      { ifindex: 7, mac: '02:aa:bb:cc:dd:01' },
      { ifindex: 0x01020304, mac: '02:AA:BB:CC:DD:02' },
    ],
    flags: 1,
  };
  const le = encodeValue(value, true);
  assert.equal(le.length, VALUE_SIZE);
  assert.equal(
    hex(le),
    'c6336407' + '00'.repeat(12) + 'e8c80304' + '00'.repeat(12) +
      '07000000' + '04030201' + '00'.repeat(8) +
      '02aabbccdd01' + '02aabbccdd02' + '00'.repeat(12) +
      '02' + '01' + '0000',
  );
  const be = encodeValue(value, false);
  assert.equal(hex(be.subarray(32, 40)), '00000007' + '01020304');
  const back = decodeValue(le, 4, true);
  assert.deepEqual(back, { ...value, outputs: value.outputs.map((o) => ({ ...o, mac: o.mac.toLowerCase() })) });
});

test('values reject too many outputs, bad ifindex and bad MACs', () => {
  const to = { source: '198.51.100.7', group: '232.200.3.4' };
  const o = { ifindex: 1, mac: '02:00:00:00:00:01' };
  assert.throws(() => encodeValue({ to, outputs: [o, o, o, o, o], flags: 0 }), /at most 4/);
  assert.throws(() => encodeValue({ to, outputs: [{ ifindex: 0, mac: o.mac }], flags: 0 }), /ifindex 0/);
  assert.throws(() => encodeValue({ to, outputs: [{ ifindex: 1, mac: '02:00:00:00:01' }], flags: 0 }), /not a MAC/);
});

test('counters and attach entries decode in host order', () => {
  const c = new Uint8Array(16);
  c[0] = 5;
  c[8] = 0x10;
  c[9] = 0x27;
  assert.deepEqual(decodeCounter(c, true), { packets: 5n, bytes: 10000n });
  assert.deepEqual(decodeAttach(encodeAttach(12, 1, false), false), { ifindex: 12, flags: 1 });
  assert.equal(hex(encodeAttach(12, 1, true)), '0c00000001000000');
});

test('bpftool JSON dumps: plain and per-CPU values', () => {
  const dump = parseMapDump(
    '[{"key":["0x01","0x00"],"value":["0xff"]},{"key":["0x02","0x00"],"values":[{"cpu":0,"value":["0x01"]},{"cpu":1,"value":["0x02"]}]}]',
    'm',
  );
  assert.deepEqual(dump.map((e) => [hex(e.key), e.values.map(hex)]), [['0100', ['ff']], ['0200', ['01', '02']]]);
  assert.deepEqual(parseMapDump('', 'm'), []);
  assert.throws(() => parseMapDump('oops', 'm'), /not JSON/);
  assert.throws(() => bytesFromJson(['0x1ff'], 'k'), /not a hex byte/);
});

test('sumCounters: per-CPU counters summed, values of another size skipped', () => {
  const cpu = (packets: number, bytes: number) => {
    const c = new Uint8Array(16);
    new DataView(c.buffer).setBigUint64(0, BigInt(packets), true);
    new DataView(c.buffer).setBigUint64(8, BigInt(bytes), true);
    return c;
  };
  assert.deepEqual(sumCounters([cpu(5, 10000), cpu(2, 3000), new Uint8Array(8)], true), { packets: 7, bytes: 13000 });
  assert.deepEqual(sumCounters([]), { packets: 0, bytes: 0 });
});

test('decodeRuleEntry: the channel of the key and the value decoded in its family', () => {
  const from = { source: '2001:db8::7', group: 'ff3e::1' };
  const value = { to: { source: '2001:db8::9', group: 'ff3e::2' }, outputs: [{ ifindex: 3, mac: '02:00:00:00:00:03' }], flags: 0 };
  assert.deepEqual(decodeRuleEntry({ key: encodeKey(from), values: [encodeValue(value)] }), { from, value });
});
