// An agent's AssignmentFeed with mappings over MQTT (docs/mqtt.md): the
// watcher client still gets the id, refreshes it and PUTs the desired set over
// RESTCONF (the server allocates from them), but the mappings come from the
// broker's retained messages on the wanted channels' topics. While the broker
// cannot be reached the watcher client follows the server by RESTCONF push
// again, until the broker is back. A message that does not decode, or whose
// payload maps another channel than its topic, is logged and ignored: it
// never reaches a rule.
import type { Host } from '../host/host.ts';
import type { Channel } from '../core/channel.ts';
import { decodeMapping, mappingTopic, type MqttBroker } from '../protocol/mqtt-mapping.ts';
import type { MappedChannel } from '../protocol/model.ts';
import type { WatcherClient } from '../client/watcher-client.ts';
import type { AssignmentFeed, FeedStatus } from './ports.ts';

/** What a link reports: connected and subscribed, gone (and why), a message. */
export interface MappingLinkEvents {
  up(): void;
  /** stopped: the subscriber was stopped by a signal (Ctrl-C, a group kill), not failed by the broker. */
  down(reason: string, stopped?: boolean): void;
  /** null: a payload that is over 4 KiB or not UTF-8 (a mapping is a few hundred bytes of JSON). */
  message(topic: string, payload: string | null): void;
}

/** The subscription to the broker: mosquitto_sub (QuickJS) or MQTT.js (Node). */
export interface MappingLink {
  /** Exactly these topic filters from now on. */
  subscribe(filters: readonly string[]): void;
  close(): void;
}

export type OpenMappingLink = (events: MappingLinkEvents) => MappingLink;

/** How a role subscribes: the egress to its channels' topics, the ingress to its monitors' prefixes. */
export interface MqttRole<T> {
  filters(root: string, desired: readonly T[]): string[];
  /** The mapping is one the agent asked for (an ingress: its source is in a monitor). */
  wants(m: MappedChannel, desired: readonly T[]): boolean;
}

/** The egress: one topic per joined channel. */
export const EGRESS_MQTT: MqttRole<Channel> = {
  filters: (root, desired) => desired.map((c) => mappingTopic(root, c)).sort(),
  wants: (m, desired) => desired.some((c) => c.source === m.global.source && c.group === m.global.group),
};

export interface MqttFeedOptions<T> {
  readonly host: Host;
  readonly watcher: WatcherClient<T>;
  readonly broker: MqttBroker;
  /** The broker URL as configured, for the log and the status. */
  readonly url: string;
  readonly role: MqttRole<T>;
  readonly open: OpenMappingLink;
}

export function createMqttFeed<T>(o: MqttFeedOptions<T>): AssignmentFeed<T> {
  const { host, watcher, role } = o;
  const log = host.log;
  const mappings = new Map<string, MappedChannel>(); // by topic
  const onAssignments: Array<(c: MappedChannel[]) => void> = [];
  const onStatus: Array<(s: FeedStatus) => void> = [];
  let desired: readonly T[] = [];
  let subscribed = new Set<string>();
  let up: boolean | null = null; // null: not known yet
  let reason = '';
  let link: MappingLink | null = null;
  let server: FeedStatus = { connected: false, watcherId: null, mode: 'push' };

  const emit = (list: MappedChannel[]): void => {
    for (const fn of onAssignments) fn(list);
  };
  const fromBroker = (): void => emit([...mappings.values()].filter((m) => role.wants(m, desired)));
  const status = (): void => {
    const s: FeedStatus = up ? { ...server, mode: 'mqtt' } : { ...server, mode: `${server.mode}, MQTT down`, lastError: server.lastError ?? `MQTT ${o.url}: ${reason}` };
    for (const fn of onStatus) fn(s);
  };

  const events: MappingLinkEvents = {
    up() {
      if (up) return;
      up = true;
      log.info('MQTT: mappings from the broker', { broker: o.url });
      watcher.setFollow(false);
      fromBroker();
      status();
    },
    down(why, stopped) {
      reason = why;
      if (up === false) return;
      up = false;
      if (stopped) log.info('MQTT subscriber stopped by a signal; RESTCONF push until it is back unless stopping', { broker: o.url, error: why });
      else log.warn('MQTT broker unreachable; RESTCONF push until it is back', { broker: o.url, error: why });
      // The mappings stay as they are until the push stream's first update replaces them.
      watcher.setFollow(true);
      status();
    },
    message(topic, payload) {
      let m: MappedChannel | null;
      try {
        if (payload === null) throw new Error('over 4 KiB or not UTF-8');
        m = decodeMapping(o.broker.root, topic, payload);
      } catch (err) {
        log.warn('MQTT: bad mapping message ignored', { topic, error: (err as Error).message });
        return;
      }
      // Kept while its topic is subscribed, wanted now or not: a channel the LAN leaves and joins
      // again meanwhile gets no retained message again. A source outside the monitors is not kept.
      if (m && !subscribed.has(topic) && !role.wants(m, desired)) return;
      if (m) mappings.set(topic, m);
      else mappings.delete(topic);
      if (up) fromBroker();
    },
  };

  watcher.on('assignments', (list) => {
    if (!up) emit(list);
  });
  watcher.on('status', (s) => {
    server = s;
    status();
  });

  return {
    start() {
      watcher.start();
      link = o.open(events);
      subscribed = new Set(role.filters(o.broker.root, desired));
      link.subscribe([...subscribed]);
    },
    async stop() {
      link?.close();
      link = null;
      await watcher.stop();
    },
    setDesired(items) {
      desired = items;
      watcher.setDesired(items);
      // Subscribe again only for a topic not subscribed yet (for mosquitto_sub that is a new
      // process and TLS connection): a left channel's topic and mapping stay until then.
      const next = role.filters(o.broker.root, items);
      if (next.some((f) => !subscribed.has(f))) {
        subscribed = new Set(next);
        for (const [topic, m] of mappings) if (!role.wants(m, items)) mappings.delete(topic);
        link?.subscribe(next);
      }
      if (up) fromBroker();
    },
    on(event: 'assignments' | 'status', fn: ((c: MappedChannel[]) => void) | ((s: FeedStatus) => void)) {
      if (event === 'assignments') onAssignments.push(fn as (c: MappedChannel[]) => void);
      else onStatus.push(fn as (s: FeedStatus) => void);
    },
  };
}
