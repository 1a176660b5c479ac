// The MQTT fan-out of mappings (docs/mqtt.md): every channel's mapping is a
// retained message on its own topic, so a change costs one publish however
// many CPEs watch it, and a CPE that (re)subscribes gets the current state
// from the broker alone.
//
//   store ──channelsChanged (durable)──▶ publish(topic, mapped-sg JSON, retained, QoS 1)
//                                        released: an empty retained payload (clears it)
//   broker (re)connected ──▶ every mapping published again, and a no-local
//                            subscription to <root>/ch/# repairs what others
//                            put there: a mapping someone overwrites is put
//                            back at once; a topic of no current channel (an
//                            earlier run's, say) is cleared only after a
//                            watcher expiry window, so agents registering
//                            again after a state loss get their new mapping
//                            first and never see their channel released
//
// Only the front end the store names publisher publishes (a region has one).
// Publishing never blocks a RESTCONF answer: it follows the store's events,
// which come after the reply's durability, and MQTT.js writes asynchronously.
// While the broker is away nothing is queued: the full state goes out when it
// is back.
import type { Logger } from '../../host/host.ts';
import { connectMqtt, type MqttClient } from '../../host/node-mqtt.ts';
import type { MqttOptions } from '../options.ts';
import { mappingPayload, mappingTopic } from '../../protocol/mqtt-mapping.ts';
import type { MqttStats } from '../ops/stats.ts';
import type { ChannelChange } from '../state/state-types.ts';
import type { MnatStore } from '../store/store.ts';


export interface MappingPublisher {
  stats(): MqttStats;
  /** Disconnects (after the messages in flight, at most timeoutMs). */
  close(timeoutMs?: number): Promise<void>;
}

/** Publishes the store's mappings through `client` under `root` (see the file comment). */
export function startMappingPublisher(store: MnatStore, client: MqttClient, root: string, log: Logger, brokerText: string): MappingPublisher {
  const filter = `${root}/ch/#`;
  /** The durable state as retained payloads, by topic: what the broker should hold. */
  const retained = new Map<string, string>();
  const stats: MqttStats = { connected: false, publisher: store.isPublisher(), channels: 0, publishes: 0, publishFailures: 0, outages: 0, republishes: 0, repaired: 0 };
  let outageLogged = false;
  let subscribed = false;
  /** Topics of no current channel that someone else holds, cleared when their timer ends. */
  const stale = new Map<string, ReturnType<typeof setTimeout>>();
  const syncTopic = `${root}/ch/sync`;
  /** From a subscription until our marker comes back: the retained messages of others the broker held. */
  let snapshot: Map<string, string> | null = null;
  let marker = '';
  const staleAfterMs = 3 * store.refreshPeriodS * 1000;

  const topicOf = (c: ChannelChange): string => mappingTopic(root, c.channel);
  for (const row of store.channels()) retained.set(mappingTopic(root, row.global), mappingPayload(row));

  const publish = (topic: string, payload: string): void => {
    stats.publishes++;
    client.publish(topic, payload, { qos: 1, retain: true }, (err) => {
      if (!err) return;
      stats.publishFailures++;
      stats.lastError = err.message;
      log.debug('MQTT publish failed; the full state goes out again on reconnect', { topic, error: err.message });
    });
  };

  /**
   * Every mapping, with a look at what others retained: subscribe (the broker
   * sends its retained messages, as they are then), publish our state, then a
   * marker on the sync topic. The broker handles the three in that order, so
   * the marker comes back after that snapshot; what the snapshot holds on
   * topics of no current channel is stale, and everything after the marker is
   * someone else publishing now.
   */
  const publishAll = (why: string): void => {
    stats.republishes++;
    log.info(`MQTT: publishing every mapping (${why})`, { broker: brokerText, channels: retained.size });
    snapshot = new Map();
    marker = Math.random().toString(36).slice(2);
    subscribed = true;
    client.subscribe({ [filter]: { qos: 0, nl: true, rap: true }, [syncTopic]: { qos: 0 } }, (err) => {
      if (err) log.warn('MQTT: cannot subscribe to repair stale mappings', { filter, error: err.message });
    });
    for (const [topic, payload] of retained) publish(topic, payload);
    client.publish(syncTopic, marker, { qos: 0 });
    const sent = marker;
    setTimeout(() => {
      if (marker !== sent || !snapshot || !stats.connected) return;
      log.warn('MQTT: the marker did not come back; can this client read and write the topics?', { topic: syncTopic });
      snapshotDone();
    }, 10_000).unref();
  };

  /** The snapshot is complete: what it holds on topics of no current channel is stale. */
  const snapshotDone = (): void => {
    const seen = snapshot;
    snapshot = null;
    if (seen) for (const [t, p] of seen) if (p !== '' && !retained.has(t)) clearLater(t);
  };

  /** A topic of no current channel that someone holds: cleared after a watcher expiry window, unless it is a channel by then. */
  const clearLater = (topic: string): void => {
    if (stale.has(topic)) return;
    const timer = setTimeout(() => {
      stale.delete(topic);
      if (retained.has(topic) || !stats.connected || !stats.publisher) return;
      stats.repaired++;
      log.warn('MQTT: clearing a mapping topic of no current channel', { topic });
      publish(topic, '');
    }, staleAfterMs);
    timer.unref();
    stale.set(topic, timer);
  };

  /** A message of someone else (our mapping subscription is no-local) or our marker. */
  const received = (topic: string, payload: Buffer): void => {
    if (!stats.publisher) return;
    const text = payload.toString('utf8');
    if (topic === syncTopic) {
      if (text === marker) snapshotDone();
      return;
    }
    if (snapshot) return void snapshot.set(topic, text); // our publishes since have replaced the current channels'
    const ours = retained.get(topic);
    if (text === (ours ?? '')) return;
    if (ours === undefined) return clearLater(topic);
    stats.repaired++;
    log.warn('MQTT: restoring a mapping someone else overwrote', { topic, bytes: payload.length });
    publish(topic, ours);
  };

  const guard = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      // Fan-out must never break the store's other listeners (push, long polls).
      log.error(`MQTT: ${what} failed`, { error: (err as Error).message });
    }
  };

  store.onChannelsChanged((changes) =>
    guard('publishing a change', () => {
      // One publish per channel however often it changed in this batch: its latest state.
      const latest = new Map<string, string>();
      for (const c of changes) {
        const topic = topicOf(c);
        const payload = c.mapping ? mappingPayload(c.mapping) : '';
        if (payload) retained.set(topic, payload);
        else retained.delete(topic);
        latest.set(topic, payload);
      }
      stats.channels = retained.size;
      if (!stats.connected || !stats.publisher) return;
      for (const [topic, payload] of latest) publish(topic, payload);
    }),
  );
  store.onPublisherChanged((publisher) =>
    guard('taking over publishing', () => {
      stats.publisher = publisher;
      log.info(publisher ? 'MQTT: this front end publishes the mappings now' : 'MQTT: not publishing now (another front end leads the region, or this one cannot reach etcd)');
      if (publisher && stats.connected) publishAll('took over publishing');
      else if (!publisher && subscribed) {
        subscribed = false;
        client.unsubscribe([filter, syncTopic]);
      }
    }),
  );
  stats.channels = retained.size;

  client.on('connect', () =>
    guard('publishing the state', () => {
      stats.connected = true;
      outageLogged = false;
      subscribed = false; // a clean session: the subscription is gone
      if (stats.publisher) publishAll('connected');
      else log.info('MQTT: connected; another front end publishes', { broker: brokerText });
    }),
  );
  const lost = (error: string): void => {
    if (stats.connected) stats.outages++;
    else if (!outageLogged) stats.outages++; // could not connect at all (start-up, or refused)
    stats.connected = false;
    subscribed = false;
    stats.lastError = error;
    if (outageLogged) return;
    outageLogged = true;
    log.warn('MQTT broker unreachable; mappings are published again when it is back (RESTCONF is not affected)', { broker: brokerText, error });
  };
  let lastError = 'connection closed';
  client.on('error', (err) => {
    lastError = err.message;
    if (!stats.connected) lost(err.message);
  });
  client.on('close', () => {
    if (stats.connected) lost(lastError);
    lastError = 'connection closed';
  });
  client.on('message', (topic, payload) => guard('repairing a mapping topic', () => received(topic, payload)));

  return {
    stats: () => ({ ...stats }),
    close: (timeoutMs = 2000) =>
      new Promise<void>((resolve) => {
        for (const timer of stale.values()) clearTimeout(timer);
        const timer = setTimeout(() => client.end(true, {}, () => resolve()), timeoutMs);
        timer.unref();
        client.end(false, {}, () => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** --mqtt: connects (in the background) and publishes; throws when a certificate file cannot be read. */
export async function startMqttFanout(store: MnatStore, options: MqttOptions, log: Logger): Promise<MappingPublisher> {
  const client = await connectMqtt(options, { clientIdPrefix: 'mnat-server', protocolVersion: 5 });
  log.info('MQTT: connecting', { broker: options.url, root: options.root });
  return startMappingPublisher(store, client, options.root, log, options.url);
}
