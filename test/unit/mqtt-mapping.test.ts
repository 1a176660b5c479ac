// The MQTT mapping format (src/protocol/mqtt-mapping.ts) and the ingress's
// topic filters (src/ingress/mqtt-monitors.ts): URLs, topics for IPv4/IPv6
// sources, payloads that decode and the ones that must not, prefix filters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMapping, mappingPayload, mappingTopic, parseMqttUrl } from '../../src/protocol/mqtt-mapping.ts';
import { INGRESS_MQTT, prefixFilters } from '../../src/ingress/mqtt-monitors.ts';
import { parsePrefix } from '../../src/core/address.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';

test('broker URLs: scheme, host, port, topic root; anything else is refused', () => {
  assert.deepEqual(parseMqttUrl('mqtts://broker.isp.example:8883'), { tls: true, host: 'broker.isp.example', port: 8883, root: 'mnat' });
  assert.deepEqual(parseMqttUrl('mqtt://10.0.0.1'), { tls: false, host: '10.0.0.1', port: 1883, root: 'mnat' });
  assert.deepEqual(parseMqttUrl('mqtts://[2001:db8::1]/isp/mnat/'), { tls: true, host: '2001:db8::1', port: 8883, root: 'isp/mnat' });
  assert.deepEqual(parseMqttUrl('mqtt://h:1884/x'), { tls: false, host: 'h', port: 1884, root: 'x' });
  for (const bad of ['https://h', 'mqtt://', 'mqtt://u:p@h', 'mqtt://h:0', 'mqtt://h:70000', 'mqtt://h/a/+', 'mqtt://h/a#', 'mqtt://h/a//b', 'mqtt://h/$SYS', 'mqtt://h x', 'mqtt://2001:db8::1']) {
    assert.throws(() => parseMqttUrl(bad), /is not mqtt:\/\/host\[:port\]\[\/root\] or mqtts:\/\//, bad);
  }
});

test('topics: source octets or hextets as levels, the group last; no /, + or # from an address', () => {
  assert.equal(mappingTopic('mnat', { source: '23.212.185.4', group: '232.1.1.1' }), 'mnat/ch/4/23/212/185/4/232.1.1.1');
  assert.equal(mappingTopic('isp/mnat', { source: '2001:db8:100::2', group: 'ff3e::8000:1' }), 'isp/mnat/ch/6/2001/db8/100/0/0/0/0/2/ff3e::8000:1');
  assert.equal(mappingTopic('m', { source: '2001:db8::', group: 'ff3e::1' }), 'm/ch/6/2001/db8/0/0/0/0/0/0/ff3e::1');
  assert.equal(mappingTopic('m', { source: '::1', group: 'ff3e::1' }), 'm/ch/6/0/0/0/0/0/0/0/1/ff3e::1');
  assert.equal(mappingTopic('m', { source: '2001:db8:1:2:3:4:5:6', group: 'ff3e::1' }), 'm/ch/6/2001/db8/1/2/3/4/5/6/ff3e::1');
  for (const t of [mappingTopic('m', { source: '2001:db8::1', group: 'ff3e::1' })]) assert.doesNotMatch(t.split('/').slice(-1)[0]!, /[/+#]/);
});

const MAPPED: MappedChannel = { id: 7, global: { source: '2001:db8:100::2', group: 'ff3e::8000:1' }, state: 'assigned', local: { source: 'fd00:c0::9', group: 'ff35::a:3' } };

test('a payload is the RFC 7951 JSON of one mapped-sg and decodes back; empty is a release', () => {
  const topic = mappingTopic('mnat', MAPPED.global);
  const payload = mappingPayload(MAPPED);
  assert.deepEqual(JSON.parse(payload), {
    'ietf-mnat:mapped-sg': [{
      id: 7,
      state: 'ietf-mnat:assigned-local-multicast',
      'global-subscription': { source: '2001:db8:100::2', group: 'ff3e::8000:1' },
      'local-mapping': { source: 'fd00:c0::9', group: 'ff35::a:3' },
    }],
  });
  assert.deepEqual(decodeMapping('mnat', topic, payload), MAPPED);
  assert.equal(decodeMapping('mnat', topic, ''), null);
  const waiting: MappedChannel = { id: 8, global: { source: '192.0.2.1', group: '232.1.1.1' }, state: 'unassigned', local: null };
  assert.deepEqual(decodeMapping('mnat', mappingTopic('mnat', waiting.global), mappingPayload(waiting)), waiting);
  // Another spelling of the same channel is the same channel.
  const longhand = payload.replace('"2001:db8:100::2"', '"2001:0db8:0100:0:0:0:0:0002"');
  assert.deepEqual(decodeMapping('mnat', topic, longhand), MAPPED);
});

test('malformed and forged payloads are refused with a reason', () => {
  const topic = mappingTopic('mnat', MAPPED.global);
  const entry = JSON.parse(mappingPayload(MAPPED))['ietf-mnat:mapped-sg'][0];
  const cases: Array<[string, RegExp]> = [
    ['{', /JSON|Unexpected|Expected/],
    ['null', /one entry/],
    ['"x"', /one entry/],
    ['{"ietf-mnat:mapped-sg":[]}', /one entry/],
    [JSON.stringify({ 'ietf-mnat:mapped-sg': [entry, entry] }), /one entry/],
    [JSON.stringify({ 'ietf-mnat:mapped-sg': [{ ...entry, id: -1 }] }), /uint32/],
    [JSON.stringify({ 'ietf-mnat:mapped-sg': [{ ...entry, state: 'ietf-mnat:stolen' }] }), /state/],
    [JSON.stringify({ 'ietf-mnat:mapped-sg': [{ ...entry, 'local-mapping': { source: 'fd00:c0::9', group: 'fd00::1' } }] }), /not a multicast address/],
    [JSON.stringify({ 'ietf-mnat:mapped-sg': [{ ...entry, 'local-mapping': undefined }] }), /needs a local-mapping/],
    [JSON.stringify({ 'ietf-mnat:mapped-sg': [{ ...entry, extra: 1 }] }), /extra/],
    // Forged: a valid mapping of another channel, published on this channel's topic.
    [mappingPayload({ ...MAPPED, global: { source: '2001:db8:100::3', group: 'ff3e::8000:1' } }), /not the topic's channel/],
  ];
  for (const [payload, why] of cases) assert.throws(() => decodeMapping('mnat', topic, payload), why, payload);
  // The right payload under another root is another topic.
  assert.throws(() => decodeMapping('other', topic, mappingPayload(MAPPED)), /not the topic's channel/);
});

test('ingress filters: whole levels fixed, a partial level split up to 16 ways, else the wildcard', () => {
  const f = (p: string): string[] => prefixFilters('mnat', parsePrefix(p));
  assert.deepEqual(f('0.0.0.0/0'), ['mnat/ch/4/#']);
  assert.deepEqual(f('::/0'), ['mnat/ch/6/#']);
  assert.deepEqual(f('23.212.185.0/24'), ['mnat/ch/4/23/212/185/#']);
  assert.deepEqual(f('23.212.185.4/32'), ['mnat/ch/4/23/212/185/4/#']);
  assert.deepEqual(f('198.51.96.0/20'), Array.from({ length: 16 }, (_, k) => `mnat/ch/4/198/51/${96 + k}/#`));
  assert.deepEqual(f('10.128.0.0/9'), ['mnat/ch/4/10/#']);
  assert.deepEqual(f('2001:db8:100::/48'), ['mnat/ch/6/2001/db8/100/#']);
  assert.deepEqual(f('2001:db8:100::/60'), Array.from({ length: 16 }, (_, k) => `mnat/ch/6/2001/db8/100/${k.toString(16)}/#`));
  assert.deepEqual(f('2001:db8:100::/52'), ['mnat/ch/6/2001/db8/100/#']);
  assert.deepEqual(f('2001:db8:100::2/128'), ['mnat/ch/6/2001/db8/100/0/0/0/0/2/#']);
  // Every filter covers the topics of the prefix's sources.
  const topic = mappingTopic('mnat', { source: '198.51.100.7', group: '232.1.1.1' });
  assert.ok(f('198.51.96.0/20').some((filter) => topic.startsWith(filter.slice(0, -1))));
  // The role: deduplicated filters, and a mapping only when a monitor holds its source.
  assert.deepEqual(INGRESS_MQTT.filters('mnat', ['23.212.185.0/24', '23.212.185.0/25']), ['mnat/ch/4/23/212/185/#']);
  assert.equal(INGRESS_MQTT.wants(MAPPED, ['2001:db8:100::/48']), true);
  assert.equal(INGRESS_MQTT.wants(MAPPED, ['2001:db8:200::/48', '0.0.0.0/0']), false);
});
