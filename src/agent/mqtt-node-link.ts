// The broker link on Node (mnat-ingress, and mnat-egress under Node): one
// MQTT.js connection that subscribes and unsubscribes as the wanted topics
// change, reconnects by itself and subscribes again on every connect. The
// router's egress uses mosquitto_sub instead (mqtt-sub.ts).
import { connectMqtt, type MqttClient } from '../host/node-mqtt.ts';
import type { MqttBroker } from '../protocol/mqtt-mapping.ts';
import type { MappingLink, MappingLinkEvents } from './mqtt-feed.ts';
import type { MqttFiles } from './mqtt-sub.ts';

export function openMqttJsLink(broker: MqttBroker, files: MqttFiles, events: MappingLinkEvents, clientIdPrefix: string): MappingLink {
  let client: MqttClient | null = null;
  let closed = false;
  let wanted: string[] = [];
  let subscribed: string[] = [];
  let lastError = '';

  const sync = (): void => {
    const c = client;
    if (!c?.connected) return;
    const add = wanted.filter((f) => !subscribed.includes(f));
    const drop = subscribed.filter((f) => !wanted.includes(f));
    subscribed = wanted.slice();
    if (drop.length > 0) c.unsubscribe(drop);
    if (add.length === 0) return events.up();
    c.subscribe(add, { qos: 0 }, (err, granted) => {
      if (c !== client) return;
      const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
      if (err || refused.length > 0) events.down(err ? `subscribe failed: ${err.message}` : `the broker refused the subscription to ${refused.join(' ')} (ACL?)`);
      else events.up();
    });
  };

  connectMqtt({ ...broker, ...files }, { clientIdPrefix, protocolVersion: 4, keepaliveS: 10 }).then(
    (c) => {
      if (closed) return void c.end(true);
      client = c;
      c.on('connect', () => {
        lastError = '';
        subscribed = [];
        sync();
      });
      c.on('error', (err) => {
        lastError = err.message;
        if (!c.connected) events.down(err.message);
      });
      c.on('close', () => events.down(lastError || 'connection lost'));
      c.on('message', (topic, payload) => {
        events.message(topic, payload.length > 4096 ? null : payload.toString('utf8'));
      });
    },
    (err: Error) => events.down(`cannot connect: ${err.message}`),
  );

  return {
    subscribe(filters) {
      wanted = filters.slice();
      sync();
    },
    close() {
      closed = true;
      client?.end(true);
      client = null;
    },
  };
}
