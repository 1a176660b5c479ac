// The MQTT fan-out of a region: two front ends over a real 3-member etcd
// cluster, both with --mqtt to one real mosquitto. Only the region leader
// publishes, so a change made at either front end reaches the broker once;
// when the leader is killed the other front end takes over and publishes the
// whole state again (including a change made while nobody published).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinsBody, monitorsBody, newWatcher, req } from '../server/helpers.ts';
import { startBroker, subscriber, type Received } from '../server/mqtt-helpers.ts';
import { decodeMapping, mappingTopic } from '../../src/protocol/mqtt-mapping.ts';
import { joinedPath, metric, startCluster, startFrontEnd, type FrontEnd } from './region-helpers.ts';

const A = { source: '192.0.2.1', group: '232.1.1.1' };
const B = { source: '192.0.2.1', group: '232.1.1.2' };
const C = { source: '192.0.2.1', group: '232.1.1.3' };
const topicA = mappingTopic('mnat', A);
const topicB = mappingTopic('mnat', B);
const topicC = mappingTopic('mnat', C);

const onTopic = (messages: Received[], topic: string): Received[] => messages.filter((m) => m.topic === topic);

async function join(fe: FrontEnd, id: string, channels: Array<{ source: string; group: string }>): Promise<void> {
  const r = await req(fe.http, 'PUT', joinedPath(id), joinsBody(id, channels.map((c) => [c.source, c.group])));
  assert.ok(r.status === 201 || r.status === 204, `PUT joins on ${fe.id}: ${r.status} ${r.body}`);
}

test('one publish per change from the region leader only; after its kill -9 the other front end publishes, the whole state first', async (t) => {
  const cluster = await startCluster(t);
  const broker = await startBroker(t);
  // 20 watchers from one address in a moment: the new-id rate off (region-quotas.test.ts shows it).
  const mqtt = ['--mqtt', `${broker.url}/mnat`, '--new-watchers-per-minute', '0'];
  const fa = await startFrontEnd(t, cluster, 'fa', mqtt);
  await fa.waitForLine(/MQTT: publishing every mapping \(connected\)/);
  const fb = await startFrontEnd(t, cluster, 'fb', mqtt);
  await fb.waitForLine(/MQTT: connected; another front end publishes/);
  assert.equal(await metric(fa, 'mnat_mqtt_publisher'), 1, 'fa (registered first) leads the region and publishes');
  assert.equal(await metric(fb, 'mnat_mqtt_publisher'), 0);
  const sub = await subscriber(t, broker.url, ['mnat/ch/#']);

  // An ingress on fa covers the sources, so a first join assigns at once.
  const ingress = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', `/restconf/data/ietf-mnat:ingress-watching/watcher=${ingress}`, monitorsBody(ingress, ['192.0.2.0/24']))).status, 201);
  // Ten egress watchers on each front end join A; one on fb joins B too.
  const onA = await Promise.all(Array.from({ length: 10 }, () => newWatcher(fa.http)));
  const onB = await Promise.all(Array.from({ length: 10 }, () => newWatcher(fb.http)));
  for (const id of onA) await join(fa, id, [A]);
  for (const id of onB) await join(fb, id, [A]);
  await join(fb, onB[0]!, [A, B]);
  await sub.waitFor((m) => m.topic === topicB, 10_000, 'B mapped');
  const a = await sub.waitFor((m) => m.topic === topicA, 10_000, 'A mapped');
  assert.equal(decodeMapping('mnat', a.topic, a.payload)?.state, 'assigned');
  // Both changes are applied by both replicas (fb's own join of B included) and published by fa alone.
  assert.equal(await metric(fa, 'mnat_mqtt_publishes_total'), 2, '20 joins of A at two front ends and one of B: two publishes');
  assert.equal(await metric(fb, 'mnat_mqtt_publishes_total'), 0, 'fb publishes nothing while fa leads');
  assert.equal(await metric(fb, 'mnat_mqtt_channels'), 2, 'fb holds the same mappings, ready to take over');
  assert.equal(onTopic(sub.messages, topicA).length, 1);
  assert.equal(onTopic(sub.messages, topicB).length, 1);

  // The leader dies; a change at fb right away is acknowledged whoever publishes.
  await fa.stop('SIGKILL');
  await join(fb, onB[1]!, [A, C]);
  // fb sees fa's registration expire (lease 2 s), leads, and publishes every mapping: A and B again, and C.
  await fb.waitForLine(/MQTT: this front end publishes the mappings now/, 15_000);
  await fb.waitForLine(/MQTT: publishing every mapping \(took over publishing\)/, 5000);
  await sub.waitFor((m) => m.topic === topicC && m.payload !== '', 10_000, 'C, published by fb');
  await sub.waitFor((m) => m.topic === topicA && onTopic(sub.messages, topicA).length === 2, 10_000, 'A again from fb');
  await sub.waitFor((m) => m.topic === topicB && onTopic(sub.messages, topicB).length === 2, 10_000, 'B again from fb');
  assert.equal(await metric(fb, 'mnat_mqtt_publisher'), 1);
  assert.equal(await metric(fb, 'mnat_mqtt_republishes_total'), 1);
  assert.deepEqual(onTopic(sub.messages, topicA).map((m) => m.payload)[1], a.payload, 'the same mapping: the replicas agree');

  // From now on one publish per change at fb: the last watcher leaving B clears it, once.
  const before = (await metric(fb, 'mnat_mqtt_publishes_total'))!;
  await join(fb, onB[0]!, [A]);
  await sub.waitFor((m) => m.topic === topicB && m.payload === '', 10_000, 'B released');
  assert.equal(await metric(fb, 'mnat_mqtt_publishes_total'), before + 1);
  assert.equal(onTopic(sub.messages, topicB).length, 3);
  assert.equal(onTopic(sub.messages, topicC).length, 1, 'C once: published by fb alone');
});

test('a leader cut off from etcd\'s quorum stops publishing (another may lead by then) and publishes everything again once etcd answers', async (t) => {
  const cluster = await startCluster(t);
  const broker = await startBroker(t);
  const fa = await startFrontEnd(t, cluster, 'fa', ['--mqtt', `${broker.url}/mnat`]);
  await fa.waitForLine(/MQTT: publishing every mapping \(connected\)/);
  const id = await newWatcher(fa.http);
  await join(fa, id, [A]);
  const sub = await subscriber(t, broker.url, [topicA]);
  await sub.waitFor((m) => m.topic === topicA, 10_000, 'A mapped');

  await cluster.kill(0);
  await cluster.kill(1);
  await fa.waitForLine(/MQTT: not publishing now/, 10_000);
  assert.equal(await metric(fa, 'mnat_mqtt_publisher'), 0);
  await cluster.restart(0);
  await cluster.restart(1);
  await fa.waitForLine(/MQTT: publishing every mapping \(took over publishing\)/, 20_000);
  await sub.waitFor((m) => m.topic === topicA && onTopic(sub.messages, topicA).length === 2, 10_000, 'A again');
  assert.equal(await metric(fa, 'mnat_mqtt_publisher'), 1);
});
