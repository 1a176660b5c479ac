// mnat-server --mqtt against a real mosquitto on loopback: each channel's
// mapping is one retained message, one publish per change however many
// watchers; a release clears it; a broker outage is logged, counted and
// healed by a full republish; stale and forged retained messages are
// repaired; bad flags are one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, eventually, joinsBody, monitorsBody, newWatcher, req, startServer, tempDir } from './helpers.ts';
import { metric, publishOnce, startBroker, subscriber } from './mqtt-helpers.ts';
import { decodeMapping, mappingPayload, mappingTopic } from '../../src/protocol/mqtt-mapping.ts';
import { encodeMappedSg } from '../../src/protocol/ietf-mnat-codec.ts';

const A = { source: '192.0.2.1', group: '232.1.1.1' };
const B = { source: '2001:db8:100::2', group: 'ff3e::8000:1' };
const topicA = mappingTopic('mnat', A);
const topicB = mappingTopic('mnat', B);
const ALL = 'mnat/ch/#';

async function metrics(origin: string): Promise<string> {
  return (await req(client(null, origin), 'GET', '/metrics')).body;
}

test('one retained message per channel, one publish per change whatever the number of watchers; a release clears it', async (t) => {
  const broker = await startBroker(t);
  // 20 watchers from one address at once: the new-id rate off (quotas.test.ts shows it).
  const server = await startServer(t, ['--insecure', '--mqtt', `${broker.url}/mnat`, '--new-watchers-per-minute', '0']);
  await server.waitForLine(/MQTT: publishing every mapping \(connected\)/);
  const sub = await subscriber(t, broker.url, [ALL]);
  const http = client(t, server.origin);

  const ingress = await newWatcher(http);
  await req(http, 'PUT', `/restconf/data/ietf-mnat:ingress-watching/watcher=${ingress}`, monitorsBody(ingress, ['192.0.2.0/24', '2001:db8:100::/48']));
  const egress = await Promise.all(Array.from({ length: 30 }, () => newWatcher(http)));
  for (const id of egress) {
    const r = await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, [[A.source, A.group]]));
    assert.equal(r.status, 201);
  }
  const msg = await sub.waitFor((m) => m.topic === topicA, 10_000, 'A mapped');
  const mapping = decodeMapping('mnat', msg.topic, msg.payload);
  assert.equal(mapping?.state, 'assigned');
  // The payload is the same mapped-sg RESTCONF serves.
  const got = await req(http, 'GET', `/restconf/data/ietf-mnat:assigned-channels/watcher=${egress[0]}`);
  assert.deepEqual(JSON.parse(msg.payload)['ietf-mnat:mapped-sg'][0], got.json['ietf-mnat:watcher'][0]['mapped-sg'][0]);
  assert.equal(msg.payload, mappingPayload(mapping!));

  const r = await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${egress[0]}`, joinsBody(egress[0]!, [[A.source, A.group], [B.source, B.group]]));
  assert.equal(r.status, 204);
  await sub.waitFor((m) => m.topic === topicB, 10_000, 'B mapped');
  const text = await metrics(server.origin);
  assert.equal(metric(text, 'mnat_mqtt_publishes_total'), 2, '30 joins of A and one of B: two publishes');
  assert.equal(metric(text, 'mnat_mqtt_channels'), 2);
  assert.equal(metric(text, 'mnat_mqtt_connected'), 1);
  assert.equal(sub.messages.filter((m) => m.topic === topicA).length, 1);

  // Every egress watcher leaves A: one empty retained message clears it.
  for (const id of egress) await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, id === egress[0] ? [[B.source, B.group]] : []));
  await sub.waitFor((m) => m.topic === topicA && m.payload === '', 10_000, 'A released');
  // A new subscriber gets B and nothing for A (A's topic is asked first: its retained message would come first).
  const late = await subscriber(t, broker.url, [topicA, topicB]);
  const b = await late.waitFor((m) => m.topic === topicB, 10_000, 'B retained');
  assert.equal(b.retain, true);
  assert.deepEqual(late.messages.map((m) => m.topic), [topicB]);
  assert.equal(metric(await metrics(server.origin), 'mnat_mqtt_publishes_total'), 3);
});

test('a broker outage: RESTCONF answers, the outage is logged and counted, every mapping is published again when it is back', async (t) => {
  const broker = await startBroker(t); // no persistence: a restart loses every retained message
  const server = await startServer(t, ['--insecure', '--mqtt', `${broker.url}/mnat`, '--state-dir', tempDir(t)]);
  await server.waitForLine(/MQTT: publishing every mapping \(connected\)/);
  const http = client(t, server.origin);
  const id = await newWatcher(http);
  await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, [[A.source, A.group]]));
  const first = await subscriber(t, broker.url, [ALL]);
  await first.waitFor((m) => m.topic === topicA);
  await first.close();

  await broker.kill();
  await server.waitForLine(/MQTT broker unreachable; mappings are published again when it is back/);
  // A change while the broker is away is acknowledged as usual.
  const r = await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, [[A.source, A.group], [B.source, B.group]]));
  assert.equal(r.status, 204);
  const down = await metrics(server.origin);
  assert.equal(metric(down, 'mnat_mqtt_connected'), 0);
  assert.equal(metric(down, 'mnat_mqtt_outages_total'), 1);

  await broker.start();
  const sub = await subscriber(t, broker.url, [ALL]);
  await sub.waitFor((m) => m.topic === topicA && m.payload !== '', 15_000, 'A again');
  await sub.waitFor((m) => m.topic === topicB && m.payload !== '', 15_000, 'B, changed during the outage');
  const up = await metrics(server.origin);
  assert.equal(metric(up, 'mnat_mqtt_connected'), 1);
  assert.equal(metric(up, 'mnat_mqtt_republishes_total'), 2);
  assert.equal(metric(up, 'mnat_mqtt_outages_total'), 1);
  assert.equal(server.lines.filter((l) => l.includes('MQTT broker unreachable')).length, 1, 'one line per outage, not per retry');
});

test('after a state loss: a channel joined again gets its new mapping and is never released; a stale one is cleared after a watcher expiry window; a forged mapping is restored at once', async (t) => {
  const broker = await startBroker(t);
  // A server that loses its state (memory only) leaves its mappings of A and B behind on the broker.
  const before = await startServer(t, ['--insecure', '--mqtt', `${broker.url}/mnat`]);
  const h1 = client(t, before.origin);
  const w1 = await newWatcher(h1);
  await req(h1, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${w1}`, joinsBody(w1, [[A.source, A.group], [B.source, B.group]]));
  const watch = await subscriber(t, broker.url, [ALL]);
  const oldA = await watch.waitFor((m) => m.topic === topicA && m.payload !== '');
  await watch.waitFor((m) => m.topic === topicB && m.payload !== '');
  await before.stop('SIGKILL');

  const server = await startServer(t, ['--insecure', '--mqtt', `${broker.url}/mnat`, '--refresh-period', '1']);
  const since = watch.messages.length;
  // An egress registers again and joins A (as agents do after a state loss).
  const http = client(t, server.origin);
  const id = await newWatcher(http);
  const alive = setInterval(() => void req(http, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': id } }), 300);
  t.after(() => clearInterval(alive));
  await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, [[A.source, A.group]]));
  const newA = await watch.waitFor((m) => watch.messages.indexOf(m) >= since && m.topic === topicA, 10_000, 'A mapped by the new server');
  assert.notEqual(newA.payload, oldA.payload);
  // Nobody joins B again: cleared once a watcher expiry window (3 x 1 s) passed.
  await watch.waitFor((m) => m.topic === topicB && m.payload === '', 15_000, 'the stale B cleared');
  await server.waitForLine(/clearing a mapping topic of no current channel.*topic=mnat\/ch\/6\/2001\/db8\/100\/0\/0\/0\/0\/2\/ff3e::8000:1/);
  assert.deepEqual(watch.messages.slice(since).filter((m) => m.topic === topicA).map((m) => m.payload), [newA.payload], 'A was never released');

  // Someone overwrites A's mapping: the server puts its own back at once.
  const forged = mappingPayload({ id: 99, global: A, state: 'assigned', local: { source: A.source, group: '232.9.9.9' } });
  await publishOnce(broker.url, topicA, forged);
  const f = await watch.waitFor((m) => m.topic === topicA && m.payload === forged);
  await watch.waitFor((m) => watch.messages.indexOf(m) > watch.messages.indexOf(f) && m.topic === topicA && m.payload === newA.payload, 10_000, 'A restored');
  assert.equal(metric(await metrics(server.origin), 'mnat_mqtt_repaired_total'), 2);
  // What a CPE subscribing now gets is the server's.
  const late = await subscriber(t, broker.url, [topicA, topicB]);
  assert.deepEqual((await late.waitFor((m) => m.topic === topicA)).payload, newA.payload);
  assert.deepEqual(late.messages.map((m) => m.topic), [topicA]);
});

test('--mqtt flags: a bad URL or a file without --mqtt is one line and exit 2; an unreadable certificate exit 1', async (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [['--mqtt', 'http://broker'], 2, /^mnat-server: --mqtt: "http:\/\/broker" is not mqtt:\/\/host\[:port\]\[\/root\] or mqtts:\/\/…$/],
    [['--mqtt', 'mqtt://b/a/#'], 2, /^mnat-server: --mqtt: "mqtt:\/\/b\/a\/#" is not/],
    [['--mqtt-cert', '/x.pem'], 2, /^mnat-server: --mqtt-cacert, --mqtt-cert and --mqtt-key need --mqtt URL$/],
    [['--mqtt', 'mqtt://b', '--mqtt-cacert', '/x.pem'], 2, /^mnat-server: --mqtt mqtt:\/\/b is plaintext: use mqtts:\/\/ with --mqtt-cacert/],
    [['--mqtt', 'mqtts://b', '--mqtt-cert', '/x.pem'], 2, /^mnat-server: --mqtt-cert and --mqtt-key go together$/],
    [['--mqtt', 'mqtts://b', '--mqtt-cacert', '/nonexistent/ca.pem'], 1, /^mnat-server: --mqtt mqtts:\/\/b: ENOENT: no such file or directory, open '\/nonexistent\/ca.pem'$/],
  ];
  for (const [args, code, line] of cases) {
    const s = await startServer(t, ['--insecure', ...args], { expectExit: true });
    assert.equal(await s.exited, code, args.join(' '));
    const last = s.lines.filter((l) => l.startsWith('mnat-server: '));
    assert.equal(last.length, 1, s.lines.join('\n'));
    assert.match(last[0]!, line);
  }
});

test('the retained payload of a channel waiting for pool space says unassigned, then the assignment replaces it', async (t) => {
  const broker = await startBroker(t);
  const dir = tempDir(t);
  const pool = `${dir}/pool.json`;
  (await import('node:fs')).writeFileSync(pool, JSON.stringify({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.1/32', 'source-range': 'keep' }] } }));
  const server = await startServer(t, ['--insecure', '--mqtt', `${broker.url}/mnat`, '--pool', pool, '--grace-period', '0']);
  const sub = await subscriber(t, broker.url, [ALL]);
  const http = client(t, server.origin);
  const [w1, w2] = [await newWatcher(http), await newWatcher(http)];
  const C = { source: '192.0.2.3', group: '232.1.1.3' };
  await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${w1}`, joinsBody(w1, [[A.source, A.group]]));
  await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${w2}`, joinsBody(w2, [[C.source, C.group]]));
  const waiting = await sub.waitFor((m) => m.topic === mappingTopic('mnat', C));
  assert.equal(decodeMapping('mnat', waiting.topic, waiting.payload)?.state, 'unassigned');
  await req(http, 'DELETE', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${w1}`);
  const assigned = await sub.waitFor((m) => m.topic === mappingTopic('mnat', C) && m.payload !== waiting.payload, 10_000, 'C assigned once A left');
  const m = decodeMapping('mnat', assigned.topic, assigned.payload)!;
  assert.deepEqual(encodeMappedSg(m), { id: m.id, state: 'ietf-mnat:assigned-local-multicast', 'global-subscription': C, 'local-mapping': { source: C.source, group: '232.255.0.1' } });
  await eventually(() => sub.messages.some((x) => x.topic === topicA && x.payload === ''), 5000, 'A cleared');
});
