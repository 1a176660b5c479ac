// The agents' MQTT feed (src/agent/mqtt-feed.ts) between a scripted watcher
// client and a scripted broker link: who follows the server when, what is
// subscribed, what reaches the agent and what is ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMqttFeed, EGRESS_MQTT, type MappingLinkEvents } from '../../src/agent/mqtt-feed.ts';
import type { FeedStatus } from '../../src/agent/ports.ts';
import { createWatcherClient, EGRESS_ROLE, type WatcherClient } from '../../src/client/watcher-client.ts';
import type { Channel } from '../../src/core/channel.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Host, HttpResponse, HttpTransport, Logger } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';
import { mappingPayload, mappingTopic, parseMqttUrl } from '../../src/protocol/mqtt-mapping.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';

const A: Channel = { source: '192.0.2.1', group: '232.1.1.1' };
const B: Channel = { source: '2001:db8::1', group: 'ff3e::1' };
const mapped = (c: Channel, id: number, local: string): MappedChannel => ({ id, global: c, state: 'assigned', local: { source: c.source, group: local } });

function setup() {
  const warnings: string[] = [];
  const log: Logger = { debug() {}, info() {}, warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`), error() {} };
  const host = createNodeHost(log);
  const follows: boolean[] = [];
  const watcherListeners: { assignments: Array<(c: MappedChannel[]) => void>; status: Array<(s: FeedStatus) => void> } = { assignments: [], status: [] };
  const desiredSent: Channel[][] = [];
  const watcher = {
    id: null,
    assignments: [] as MappedChannel[],
    start() {},
    async stop() {},
    setDesired(items: readonly Channel[]) {
      desiredSent.push([...items]);
    },
    setFollow(on: boolean) {
      follows.push(on);
    },
    on(event: 'assignments' | 'status', fn: never) {
      watcherListeners[event].push(fn);
    },
  } as unknown as WatcherClient<Channel>;
  let events: MappingLinkEvents | null = null;
  const subscriptions: string[][] = [];
  let closed = false;
  const broker = parseMqttUrl('mqtts://broker.example/mnat');
  const feed = createMqttFeed({
    host,
    watcher,
    broker,
    url: 'mqtts://broker.example/mnat',
    role: EGRESS_MQTT,
    open: (ev) => {
      events = ev;
      return { subscribe: (f) => subscriptions.push([...f]), close: () => (closed = true) };
    },
  });
  const got: MappedChannel[][] = [];
  const statuses: FeedStatus[] = [];
  feed.on('assignments', (c) => got.push(c));
  feed.on('status', (s) => statuses.push(s));
  return {
    feed,
    get events() {
      return events!;
    },
    follows,
    subscriptions,
    desiredSent,
    got,
    statuses,
    warnings,
    watcherSays: (c: MappedChannel[]) => watcherListeners.assignments.forEach((fn) => fn(c)),
    watcherStatus: (s: FeedStatus) => watcherListeners.status.forEach((fn) => fn(s)),
    closed: () => closed,
  };
}

test('joins go to the server, mappings come from the broker: exact topics, follow off while the broker is up', async () => {
  const s = setup();
  s.feed.setDesired([A, B]);
  s.feed.start();
  assert.deepEqual(s.desiredSent, [[A, B]]);
  assert.deepEqual(s.subscriptions, [[mappingTopic('mnat', A), mappingTopic('mnat', B)].sort()]);
  s.events.up();
  assert.deepEqual(s.follows, [false]);
  s.events.message(mappingTopic('mnat', A), mappingPayload(mapped(A, 1, '232.255.0.1')));
  s.events.message(mappingTopic('mnat', B), mappingPayload(mapped(B, 2, 'ff35::a:1')));
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.1'), mapped(B, 2, 'ff35::a:1')]);
  // A re-mapping replaces, a release (empty payload) removes.
  s.events.message(mappingTopic('mnat', A), mappingPayload(mapped(A, 1, '232.255.0.9')));
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.9'), mapped(B, 2, 'ff35::a:1')]);
  s.events.message(mappingTopic('mnat', B), '');
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.9')]);
  // While the broker is up, what the watcher client reports does not count.
  s.watcherSays([]);
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.9')]);
  // The LAN leaves B: B's mapping is no longer told at once; its topic stays subscribed
  // (what comes on it is kept, not told) until a new channel needs a new topic list.
  s.events.message(mappingTopic('mnat', B), mappingPayload(mapped(B, 2, 'ff35::a:1')));
  s.feed.setDesired([A]);
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.9')]);
  assert.equal(s.subscriptions.length, 1, 'a leave does not subscribe again');
  s.events.message(mappingTopic('mnat', B), mappingPayload(mapped(B, 2, 'ff35::a:2')));
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.9')]);
  // B joined again before any new subscription: the broker sends nothing again, B's mapping is known.
  s.feed.setDesired([A, B]);
  assert.equal(s.subscriptions.length, 1);
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.9'), mapped(B, 2, 'ff35::a:2')]);
  s.feed.setDesired([A]);
  const C: Channel = { source: '192.0.2.3', group: '232.1.1.3' };
  s.feed.setDesired([A, C]);
  assert.deepEqual(s.subscriptions.at(-1), [mappingTopic('mnat', A), mappingTopic('mnat', C)].sort(), 'a join does');
  s.feed.setDesired([A, C]);
  assert.equal(s.subscriptions.length, 2, 'the same set subscribes nothing again');
  await s.feed.stop();
  assert.ok(s.closed());
});

test('bad or foreign payloads are logged and change nothing', () => {
  const s = setup();
  s.feed.setDesired([A]);
  s.feed.start();
  s.events.up();
  const good = mapped(A, 1, '232.255.0.1');
  s.events.message(mappingTopic('mnat', A), mappingPayload(good));
  const before = s.got.length;
  const other: Channel = { source: '192.0.2.99', group: '232.1.1.1' };
  for (const [topic, payload] of [
    [mappingTopic('mnat', A), '{"ietf-mnat:mapped-sg":[{"id":1}]}'],
    [mappingTopic('mnat', A), 'not json'],
    [mappingTopic('mnat', A), null],
    // forged: a valid mapping of another channel on A's topic
    [mappingTopic('mnat', A), mappingPayload(mapped(other, 5, '232.255.0.5'))],
  ] as Array<[string, string | null]>) {
    s.events.message(topic, payload);
  }
  assert.equal(s.got.length, before, 'no assignment event');
  assert.equal(s.warnings.filter((w) => w.startsWith('MQTT: bad mapping message ignored')).length, 4, s.warnings.join('\n'));
  assert.ok(s.warnings.some((w) => w.includes("not the topic's channel")));
  // A valid mapping of a channel nobody here asked for, on its own topic: not ours, not taken, not an error.
  s.events.message(mappingTopic('mnat', other), mappingPayload(mapped(other, 5, '232.255.0.5')));
  assert.equal(s.got.length, before);
  assert.equal(s.warnings.length, 4);
  s.events.message(mappingTopic('mnat', A), mappingPayload(mapped(A, 1, '232.255.0.2')));
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.2')], 'the next good message still applies');
});

test('broker down: the watcher client follows the server (push) and its lists count, until the broker is back', () => {
  const s = setup();
  s.feed.setDesired([A]);
  s.feed.start();
  s.watcherStatus({ connected: true, watcherId: 'w1', mode: 'push' });
  s.events.down('Error: Connection refused');
  assert.deepEqual(s.follows, [true]);
  assert.deepEqual(s.statuses.at(-1), { connected: true, watcherId: 'w1', mode: 'push, MQTT down', lastError: 'MQTT mqtts://broker.example/mnat: Error: Connection refused' });
  assert.ok(s.warnings.some((w) => w.startsWith('MQTT broker unreachable; RESTCONF push until it is back')));
  s.events.down('again');
  assert.deepEqual(s.follows, [true], 'once per outage');
  s.watcherSays([mapped(A, 1, '232.255.0.1')]);
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.1')]);
  // Retained messages that arrive while down are kept for when the broker is up.
  s.events.message(mappingTopic('mnat', A), mappingPayload(mapped(A, 1, '232.255.0.3')));
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.1')]);
  s.events.up();
  assert.deepEqual(s.follows, [true, false]);
  assert.deepEqual(s.got.at(-1), [mapped(A, 1, '232.255.0.3')]);
  assert.deepEqual(s.statuses.at(-1), { connected: true, watcherId: 'w1', mode: 'mqtt' });
  // The subscriber stopped by a signal (Ctrl-C, a group kill while the agent stops): no warning, push all the same.
  const warned = s.warnings.length;
  s.events.down('mosquitto_sub was stopped by a signal (status 0)', true);
  assert.deepEqual(s.follows, [true, false, true]);
  assert.equal(s.warnings.length, warned, 'not a broker fault');
});

test('watcher client not following (MQTT): refreshes and PUTs only (no push stream, no polling); following again on setFollow(true)', async () => {
  const time = createVirtualTime();
  const host: Host = { ...createNodeHost({ debug() {}, info() {}, warn() {}, error() {} }), now: time.now, wallClock: time.wallClock, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout };
  const log: string[] = [];
  const transport: HttpTransport = {
    async request(req): Promise<HttpResponse> {
      log.push(`${req.method} ${req.path.replace(/watcher=[^/]*/, 'watcher=W')}`);
      if (req.path.endsWith('refresh-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'refresh-period': 10 } }) };
      if (req.path.endsWith('get-new-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w1', 'refresh-period': 10 } }) };
      if (req.method === 'PUT') return { status: 201, headers: {}, body: '' };
      if (req.path.endsWith('establish-subscription')) return { status: 404, headers: {}, body: '' };
      return { status: 200, headers: { etag: '"1"' }, body: JSON.stringify({ 'ietf-mnat:watcher': [{ id: 'w1', 'mapped-sg': [] }] }) };
    },
    stream(_req, handlers) {
      queueMicrotask(() => handlers.onEnd(new Error('no streams here')));
      return { close() {} };
    },
    close() {},
  };
  const c = createWatcherClient({ host, transport, role: EGRESS_ROLE, follow: false });
  c.start();
  c.setDesired([A]);
  await time.until('PUT', () => log.some((l) => l.startsWith('PUT')));
  await time.advance(25_000);
  assert.deepEqual(log.filter((l) => !l.includes('refresh-watcher-id')), [
    'POST /restconf/operations/ietf-mnat:get-new-watcher-id',
    'PUT /restconf/data/ietf-mnat:egress-global-joined/watcher=W',
  ]);
  assert.equal(log.filter((l) => l.includes('refresh-watcher-id')).length, 2, 'refreshed every 10 s');
  c.setFollow(true);
  await time.until('a subscription asked for', () => log.some((l) => l.includes('establish-subscription')));
  await c.stop();
});
