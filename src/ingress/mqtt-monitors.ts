// The ingress over MQTT (docs/mqtt.md): topic filters that cover its monitors'
// source prefixes, so it receives the retained mappings of every channel
// whose source it ingests. Topic levels are whole IPv4 octets or IPv6
// hextets: a prefix fixes its whole levels; a level it fixes in part is listed
// value by value when that takes at most 16 filters, else left to the
// wildcard. Either way what arrives is checked against the monitors again.
import { parseAddress, parsePrefix, prefixContains, type Prefix } from '../core/address.ts';
import type { MqttRole } from '../agent/mqtt-feed.ts';

const MAX_SPLIT = 16;

/** Topic filters under `root` covering the sources of prefix `p`. */
export function prefixFilters(root: string, p: Prefix): string[] {
  const bits = p.family === 6 ? 16 : 8;
  const levels = p.family === 6 ? 8 : 4;
  const radix = p.family === 6 ? 16 : 10;
  const level = (i: number): number => Number((p.base >> BigInt((levels - 1 - i) * bits)) & BigInt((1 << bits) - 1));
  const whole = Math.floor(p.length / bits);
  const head = [`${root}/ch/${p.family}`];
  for (let i = 0; i < whole; i++) head.push(level(i).toString(radix));
  const part = p.length % bits;
  if (part === 0 || 1 << (bits - part) > MAX_SPLIT) return [[...head, '#'].join('/')];
  const first = level(whole);
  return Array.from({ length: 1 << (bits - part) }, (_, k) => [...head, (first + k).toString(radix), '#'].join('/'));
}

/** The ingress's MQTT role: its monitors' filters; a mapping only when its source is in a monitor. */
export const INGRESS_MQTT: MqttRole<string> = {
  filters: (root, monitors) => [...new Set(monitors.flatMap((m) => prefixFilters(root, parsePrefix(m))))].sort(),
  wants: (m, monitors) => {
    const source = parseAddress(m.global.source);
    return monitors.some((p) => prefixContains(parsePrefix(p), source));
  },
};
