// MNAT mappings over MQTT (docs/mqtt.md): one retained message per global
// channel, on a topic built from the channel, whose payload is the RFC 7951
// JSON of its one mapped-sg; an empty payload clears it (the channel was
// released). The source address is split into levels (IPv4 octets, IPv6
// hextets) so an ingress subscribes to its source prefixes with wildcards,
// and no address text puts a '/', '+' or '#' into a topic:
//   <root>/ch/4/23/212/185/4/232.1.1.1
//   <root>/ch/6/2001/db8/100/0/0/0/0/2/ff3e::8000:1
// Shared by the server (publishes), the egress (QuickJS and Node) and the
// ingress (subscribe): kept small, it is in the router's bundle.
import type { Channel } from '../core/channel.ts';
import { decodeMappedSg, encodeMappedSg } from './ietf-mnat-codec.ts';
import type { MappedChannel } from './model.ts';

/** Where the mappings are: a broker and the topic root (the URL's path, default "mnat"). */
export interface MqttBroker {
  readonly tls: boolean;
  /** Host name or address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  readonly root: string;
}

/** mqtt://host[:port][/root] or mqtts://…; throws an Error saying what is wrong. */
export function parseMqttUrl(url: string): MqttBroker {
  const m = /^mqtt(s?):\/\/(\[[\da-fA-F:.]+\]|[^/:@\s[\]]+)(?::(\d+))?(\/\S*)?$/.exec(url);
  const port = m && (m[3] ? +m[3] : m[1] ? 8883 : 1883);
  const root = m ? m[4]?.replace(/^\/+|\/+$/g, '') || 'mnat' : '';
  // A root is topic levels: no wildcards, no empty level, not a $SYS-like name.
  if (!m || !(port! > 0 && port! < 65536) || /[+#]|\/\/|^\$/.test(root)) throw new Error(`"${url}" is not mqtt://host[:port][/root] or mqtts://…`);
  return { tls: !!m[1], host: m[2]!.replace(/^\[|\]$/g, ''), port: port!, root };
}

/** The topic of a channel's mapping; its addresses in canonical text (as the codec and the state give them). */
export function mappingTopic(root: string, c: Channel): string {
  const v6 = c.source.includes(':');
  let levels = c.source.replace(/\./g, '/');
  if (v6) {
    // RFC 5952 text to its 8 hextets: "::" stands for the zero groups missing.
    const [left, right] = c.source.split('::').map((h) => (h ? h.split(':') : []));
    levels = (right ? [...left!, ...Array<string>(8 - left!.length - right.length).fill('0'), ...right] : left!).join('/');
  }
  return `${root}/ch/${v6 ? 6 : 4}/${levels}/${c.group}`;
}

/** The retained payload of a mapping. */
export function mappingPayload(m: MappedChannel): string {
  return JSON.stringify({ 'ietf-mnat:mapped-sg': [encodeMappedSg(m)] });
}

/**
 * A received message: the mapping, or null for an empty payload (released).
 * Throws (saying why) for anything else, including a payload whose global
 * channel is not the topic's: a message never moves another channel.
 */
export function decodeMapping(root: string, topic: string, payload: string): MappedChannel | null {
  if (payload === '') return null;
  const list = (JSON.parse(payload) as Record<string, unknown> | null)?.['ietf-mnat:mapped-sg'];
  if (!Array.isArray(list) || list.length !== 1) throw new Error('not {"ietf-mnat:mapped-sg":[one entry]}');
  const m = decodeMappedSg(list[0]);
  if (mappingTopic(root, m.global) !== topic) throw new Error(`it maps (${m.global.source},${m.global.group}), not the topic's channel`);
  return m;
}
