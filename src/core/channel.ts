// Source-specific channels (S,G) and their canonical string keys.
import {
  AddressError,
  formatAddress,
  isMulticast,
  isUnicastSource,
  tryParseAddress,
  type Address,
  type Family,
} from './address.ts';

/** A channel in canonical text form, as it appears in ietf-mnat JSON. */
export interface Channel {
  readonly source: string;
  readonly group: string;
}

export interface ParsedChannel {
  readonly family: Family;
  readonly source: Address;
  readonly group: Address;
}

/**
 * Validates and canonicalises (S,G): both addresses of one family, the source
 * unicast, the group multicast. Throws AddressError naming the bad member.
 */
export function parseChannel(source: string, group: string): ParsedChannel {
  const s = tryParseAddress(source);
  if (s === null) throw new AddressError(`source "${source}" is not an IP address`);
  const g = tryParseAddress(group);
  if (g === null) throw new AddressError(`group "${group}" is not an IP address`);
  if (s.family !== g.family) {
    throw new AddressError(`source ${source} and group ${group} are of different IP families`);
  }
  if (!isMulticast(g)) throw new AddressError(`group ${group} is not a multicast address`);
  if (!isUnicastSource(s)) throw new AddressError(`source ${source} is not a unicast address`);
  return { family: s.family, source: s, group: g };
}

export function channelOf(parsed: ParsedChannel): Channel {
  return { source: formatAddress(parsed.source), group: formatAddress(parsed.group) };
}

/** Canonicalises a channel given as text. */
export function canonicalChannel(source: string, group: string): Channel {
  return channelOf(parseChannel(source, group));
}

/** The map key of a canonical channel: "source,group" (the joinfile line format). */
export function channelKey(channel: Channel): string {
  return `${channel.source},${channel.group}`;
}

export function channelFromKey(key: string): Channel {
  const comma = key.indexOf(',');
  if (comma < 0) throw new AddressError(`"${key}" is not a "source,group" channel`);
  return canonicalChannel(key.slice(0, comma).trim(), key.slice(comma + 1).trim());
}

export function sameChannel(a: Channel, b: Channel): boolean {
  return a.source === b.source && a.group === b.group;
}
