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
import { parseAddress } from '../core/address.ts';
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
  const m = /^(mqtts?):\/\/(\[[\da-fA-F:.]+\]|[^/:@\s[\]]+)(?::(\d{1,5}))?(\/\S*)?$/.exec(url);
  if (!m) throw new Error(`"${url}" is not an mqtt://host[:port][/root] or mqtts:// URL (user names and passwords are not taken: use client certificates)`);
  const tls = m[1] === 'mqtts';
  const port = m[3] ? +m[3] : tls ? 8883 : 1883;
  if (port < 1 || port > 65535) throw new Error(`${url}: port ${port} is out of range`);
  const root = (m[4] ?? '').replace(/^\/+|\/+$/g, '') || 'mnat';
  if (/[+#]|\/\/|^\$/.test(root)) throw new Error(`${url}: topic root "${root}" may not hold + or #, an empty level, or start with $`);
  return { tls, host: m[2]!.replace(/^\[|\]$/g, ''), port, root };
}

/** The topic of a (canonical) channel's mapping. */
export function mappingTopic(root: string, c: Channel): string {
  let levels = c.source.replace(/\./g, '/');
  if (c.source.includes(':')) {
    const v = parseAddress(c.source).value;
    const hextets: string[] = [];
    for (let shift = 112n; shift >= 0n; shift -= 16n) hextets.push(((v >> shift) & 0xffffn).toString(16));
    levels = hextets.join('/');
  }
  return `${root}/ch/${c.source.includes(':') ? 6 : 4}/${levels}/${c.group}`;
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
  if (mappingTopic(root, m.global) !== topic) throw new Error(`the payload maps (${m.global.source},${m.global.group}), another channel than the topic's`);
  return m;
}
