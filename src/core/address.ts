// IPv4/IPv6 addresses and prefixes as (family, bigint) pairs: one representation
// for both families, exact arithmetic for pools, no Node APIs (runs on QuickJS).

export type Family = 4 | 6;

export interface Address {
  readonly family: Family;
  /** The address as an unsigned integer of 32 (v4) or 128 (v6) bits. */
  readonly value: bigint;
}

export interface Prefix {
  readonly family: Family;
  /** The network address (host bits are zero). */
  readonly base: bigint;
  readonly length: number;
}

export class AddressError extends Error {
  override readonly name = 'AddressError';
}

export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}

function parseIPv4Value(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    // Leading zeros are rejected: "010" is octal to some parsers, decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIPv6Value(text: string): bigint | null {
  if (text.length < 2 || text.length > 45) return null;
  let head = text;
  let tailV4: bigint | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > lastColon) {
    tailV4 = parseIPv4Value(text.slice(lastColon + 1));
    if (tailV4 === null) return null;
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const groups: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      groups.push(parseInt(g, 16));
    }
    return groups;
  };
  const left = parseGroups(halves[0] ?? '');
  const right = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (left === null || right === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return null;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  if (tailV4 !== null) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses an IPv4 or IPv6 address; returns null when it is neither. */
export function tryParseAddress(text: string): Address | null {
  if (typeof text !== 'string') return null;
  if (text.includes(':')) {
    const value = parseIPv6Value(text);
    return value === null ? null : { family: 6, value };
  }
  const value = parseIPv4Value(text);
  return value === null ? null : { family: 4, value };
}

export function parseAddress(text: string): Address {
  const address = tryParseAddress(text);
  if (address === null) throw new AddressError(`"${text}" is not an IPv4 or IPv6 address`);
  return address;
}

/** Formats canonically: dotted quad, or RFC 5952 for IPv6 (lower case, longest zero run as ::). */
export function formatAddress(address: Address): string {
  return formatValue(address.family, address.value);
}

export function formatValue(family: Family, value: bigint): string {
  if (family === 4) {
    const octets: number[] = [];
    for (let shift = 24n; shift >= 0n; shift -= 8n) octets.push(Number((value >> shift) & 0xffn));
    return octets.join('.');
  }
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // RFC 5952: a single zero group is not shortened
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

/** The canonical text of an address given in any valid notation. */
export function canonicalAddress(text: string): string {
  return formatAddress(parseAddress(text));
}

export function tryParsePrefix(text: string): Prefix | null {
  if (typeof text !== 'string') return null;
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = tryParseAddress(addressText);
  if (address === null) return null;
  const bits = familyBits(address.family);
  let length = bits;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lengthText)) return null;
    length = Number(lengthText);
    if (length > bits) return null;
  }
  const base = address.value & prefixMask(address.family, length);
  return { family: address.family, base, length };
}

/**
 * Parses "address/length" (a bare address is a host prefix). Host bits set
 * below the length are an error, as they usually mean a typo in a config.
 */
export function parsePrefix(text: string): Prefix {
  const prefix = tryParsePrefix(text);
  if (prefix === null) throw new AddressError(`"${text}" is not an IPv4 or IPv6 prefix (address/length)`);
  const address = parseAddress(text.split('/')[0] ?? '');
  if (address.value !== prefix.base) {
    throw new AddressError(
      `"${text}" has host bits set; did you mean ${formatPrefix(prefix)}?`,
    );
  }
  return prefix;
}

export function formatPrefix(prefix: Prefix): string {
  return `${formatValue(prefix.family, prefix.base)}/${prefix.length}`;
}

export function prefixMask(family: Family, length: number): bigint {
  const bits = BigInt(familyBits(family));
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(length))) - 1n);
}

/** How many addresses a prefix holds. */
export function prefixSize(prefix: Prefix): bigint {
  return 1n << BigInt(familyBits(prefix.family) - prefix.length);
}

export function prefixLast(prefix: Prefix): bigint {
  return prefix.base + prefixSize(prefix) - 1n;
}

export function prefixContains(prefix: Prefix, address: Address): boolean {
  return (
    prefix.family === address.family &&
    (address.value & prefixMask(prefix.family, prefix.length)) === prefix.base
  );
}

export function prefixCoversPrefix(outer: Prefix, inner: Prefix): boolean {
  return (
    outer.family === inner.family &&
    inner.length >= outer.length &&
    (inner.base & prefixMask(outer.family, outer.length)) === outer.base
  );
}

// Pure annotations let bundles that never test SSM drop the constant.
export const IPV4_MULTICAST = /* @__PURE__ */ tryParsePrefix('224.0.0.0/4') as Prefix;
export const IPV4_SSM = /* @__PURE__ */ tryParsePrefix('232.0.0.0/8') as Prefix;
export const IPV6_MULTICAST = /* @__PURE__ */ tryParsePrefix('ff00::/8') as Prefix;
const IPV4_LOCAL_CONTROL = /* @__PURE__ */ tryParsePrefix('224.0.0.0/24') as Prefix;

/** In 224.0.0.0/4 or ff00::/8 (tested on the bits: the prefix parser stays out of the QuickJS bundle). */
export function isMulticast(address: Address): boolean {
  return address.family === 4 ? address.value >> 28n === 0xen : address.value >> 120n === 0xffn;
}

/** RFC 4607 SSM ranges: 232/8 and FF3x::/32 (any scope); bit tests, as isMulticast. */
export function isSsmGroup(address: Address): boolean {
  if (address.family === 4) return address.value >> 24n === 232n;
  return (address.value >> 116n) === 0xff3n && ((address.value >> 96n) & 0xffffn) === 0n;
}

/** A unicast address usable as an SSM source (not multicast, unspecified, or broadcast). */
export function isUnicastSource(address: Address): boolean {
  if (isMulticast(address) || address.value === 0n) return false;
  if (address.family === 4) return address.value !== 0xffffffffn;
  return true;
}

export function compareAddresses(a: Address, b: Address): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The Ethernet multicast MAC for a group (01:00:5e + 23 bits; 33:33 + 32 bits). */
export function multicastMac(group: Address): string {
  const bytes =
    group.family === 4
      ? [0x01, 0x00, 0x5e, Number((group.value >> 16n) & 0x7fn), Number((group.value >> 8n) & 0xffn), Number(group.value & 0xffn)]
      : [0x33, 0x33, ...[24n, 16n, 8n, 0n].map((s) => Number((group.value >> s) & 0xffn))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * Why a multicast group is never forwarded by routers (so cannot be carried
 * as a channel), or null: 224.0.0.0/24 (local network control) and IPv6
 * scopes 0-2 (reserved, interface-local, link-local).
 */
export function unforwardedGroupReason(group: Address): string | null {
  if (group.family === 4) {
    return group.value >> 8n === 0xe00000n ? 'is in 224.0.0.0/24 (local network control), which routers never forward' : null;
  }
  if (group.value >> 120n !== 0xffn) return null;
  const scope = Number((group.value >> 112n) & 0xfn);
  return scope <= 2 ? `has multicast scope ${scope} (${['reserved', 'interface-local', 'link-local'][scope]}), which routers never forward` : null;
}

/** Whether a group prefix holds any never-forwarded group. */
export function prefixHoldsUnforwarded(p: Prefix): boolean {
  if (p.family === 4) return prefixCoversPrefix(p, IPV4_LOCAL_CONTROL) || prefixCoversPrefix(IPV4_LOCAL_CONTROL, p);
  if (p.length < 16) return true; // spans every scope nibble
  return unforwardedGroupReason({ family: 6, value: p.base }) !== null;
}

/** 127.0.0.0/8 or ::1: never a real multicast source. */
export function isLoopback(a: Address): boolean {
  return a.family === 4 ? a.value >> 24n === 127n : a.value === 1n;
}

/**
 * Why an address can never be a global SSM source, or null: loopback,
 * 0.0.0.0/8, link-local, or IPv4-mapped IPv6 (a join would wait for traffic
 * that never comes). Only the server calls it, so the QuickJS bundle (which
 * has isLoopback alone) does not grow.
 */
export function nonGlobalSourceReason(a: Address): string | null {
  if (isLoopback(a)) return 'is a loopback address';
  if (a.family === 4) {
    if (a.value >> 24n === 0n) return 'is in 0.0.0.0/8 ("this network"), never a packet source';
    return a.value >> 16n === 0xa9fen ? 'is link-local (169.254.0.0/16), which routers never forward' : null;
  }
  if (a.value >> 32n === 0xffffn) {
    const v4 = formatAddress({ family: 4, value: a.value & 0xffffffffn });
    return `is an IPv4-mapped IPv6 address, never an IPv6 source; for an IPv4 source give ${v4} with an IPv4 group`;
  }
  return a.value >> 118n === 0x3fan ? 'is link-local (fe80::/10), which routers never forward' : null;
}
