// Byte layouts of the translator's BPF maps, mirroring the structs in
// mnat-translator.bpf.c exactly, plus the bpftool hex/JSON forms. Pure (runs on
// QuickJS too). Addresses are in network order; integers in the byte order of
// the machine running the program, which is also this runtime's typed-array order.
import { formatValue, type Family } from '../core/address.ts';
import { parseChannel, type Channel } from '../core/channel.ts';
import { DataplaneError } from './tool-exec.ts';

export const KEY_SIZE = 36; // struct mnat_key
export const VALUE_SIZE = 76; // struct mnat_value
export const COUNTER_SIZE = 16; // struct mnat_counter
export const ATTACH_SIZE = 8; // struct mnat_attach
export const MAX_OUTPUTS = 4;
export const MAX_RULES = 4096;
export const MAX_ATTACH = 16;

/** mnat_value.flags: do not decrement TTL / hop limit. */
export const FLAG_KEEP_TTL = 0x01;
/** mnat_attach.flags: the loader added the clsact qdisc (so detach removes it). */
export const ATTACH_ADDED_QDISC = 0x01;

/** enum mnat_event, in order. */
export const EVENT_NAMES = ['ttl', 'malformed', 'checksum', 'vlan', 'clone', 'not-udp', 'ext-header'] as const;
export type EventName = (typeof EVENT_NAMES)[number];
/** Events that are drops; the others are matching packets passed on untouched. */
export const DROP_EVENTS: readonly EventName[] = ['ttl', 'malformed', 'checksum', 'vlan', 'clone'];

/** The byte order of this machine: what `littleEndian` means when a function below is not given it. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes or JSON that do not fit the map layouts: a DataplaneError of kind 'bad-map-data'. */
function badData(message: string): DataplaneError {
  return new DataplaneError('bad-map-data', message);
}

export interface RuleOutput {
  readonly ifindex: number;
  /** "aa:bb:cc:dd:ee:ff": the source MAC written for this output. */
  readonly mac: string;
}

export interface RuleValue {
  readonly to: Channel;
  readonly outputs: readonly RuleOutput[];
  readonly flags: number;
}

function putAddress(out: Uint8Array, offset: number, family: Family, value: bigint): void {
  const length = family === 4 ? 4 : 16;
  for (let i = 0; i < length; i++) {
    out[offset + i] = Number((value >> BigInt(8 * (length - 1 - i))) & 0xffn);
  }
}

function getAddress(bytes: Uint8Array, offset: number, family: Family): string {
  const length = family === 4 ? 4 : 16;
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(bytes[offset + i] ?? 0);
  return formatValue(family, value);
}

/** A DataView over exactly these bytes (they may be a subarray). */
function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function putU32(out: Uint8Array, offset: number, value: number, littleEndian = HOST_LITTLE_ENDIAN): void {
  view(out).setUint32(offset, value >>> 0, littleEndian);
}

function getU32(bytes: Uint8Array, offset: number, littleEndian = HOST_LITTLE_ENDIAN): number {
  return view(bytes).getUint32(offset, littleEndian);
}

function getU64(bytes: Uint8Array, offset: number, littleEndian = HOST_LITTLE_ENDIAN): bigint {
  return view(bytes).getBigUint64(offset, littleEndian);
}

function expectSize(bytes: Uint8Array, size: number, what: string): void {
  if (bytes.length !== size) throw badData(`${what} is ${bytes.length} bytes, expected ${size}`);
}

/** "aa:bb:cc:dd:ee:ff", any case. */
export const MAC_ADDRESS = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

export function parseMac(text: string): Uint8Array {
  if (!MAC_ADDRESS.test(text)) throw badData(`"${text}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return Uint8Array.from(text.split(':'), (h) => parseInt(h, 16));
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** struct mnat_key: family, 3 pad bytes, source[16], group[16] (IPv4 in the first 4 bytes). */
export function encodeKey(channel: Channel): Uint8Array {
  const parsed = parseChannel(channel.source, channel.group);
  const out = new Uint8Array(KEY_SIZE);
  out[0] = parsed.family;
  putAddress(out, 4, parsed.family, parsed.source.value);
  putAddress(out, 20, parsed.family, parsed.group.value);
  return out;
}

export function decodeKey(bytes: Uint8Array): Channel {
  expectSize(bytes, KEY_SIZE, 'rule key');
  const family = bytes[0];
  if (family !== 4 && family !== 6) throw badData(`rule key has family ${String(family)}, expected 4 or 6`);
  return { source: getAddress(bytes, 4, family), group: getAddress(bytes, 20, family) };
}

/** struct mnat_value: source[16], group[16], ifindex[4], mac[4][6], n_outputs, flags, pad[2]. */
export function encodeValue(value: RuleValue, littleEndian?: boolean): Uint8Array {
  const parsed = parseChannel(value.to.source, value.to.group);
  if (value.outputs.length > MAX_OUTPUTS) {
    throw badData(`${value.outputs.length} outputs, at most ${MAX_OUTPUTS} are supported`);
  }
  const out = new Uint8Array(VALUE_SIZE);
  putAddress(out, 0, parsed.family, parsed.source.value);
  putAddress(out, 16, parsed.family, parsed.group.value);
  value.outputs.forEach((o, i) => {
    if (!Number.isInteger(o.ifindex) || o.ifindex <= 0 || o.ifindex > 0xffffffff) {
      throw badData(`output ${i} has ifindex ${o.ifindex}, expected a positive 32-bit integer`);
    }
    putU32(out, 32 + 4 * i, o.ifindex, littleEndian);
    out.set(parseMac(o.mac), 48 + 6 * i);
  });
  out[72] = value.outputs.length;
  out[73] = value.flags & 0xff;
  return out;
}

export function decodeValue(bytes: Uint8Array, family: Family, littleEndian?: boolean): RuleValue {
  expectSize(bytes, VALUE_SIZE, 'rule value');
  const n = bytes[72] ?? 0;
  if (n > MAX_OUTPUTS) throw badData(`rule value has ${n} outputs, at most ${MAX_OUTPUTS}`);
  const outputs: RuleOutput[] = [];
  for (let i = 0; i < n; i++) {
    outputs.push({ ifindex: getU32(bytes, 32 + 4 * i, littleEndian), mac: formatMac(bytes.subarray(48 + 6 * i, 54 + 6 * i)) });
  }
  return {
    to: { source: getAddress(bytes, 0, family), group: getAddress(bytes, 16, family) },
    outputs,
    flags: bytes[73] ?? 0,
  };
}

/** struct mnat_counter of one CPU: packets, bytes (u64 each). */
export function decodeCounter(bytes: Uint8Array, littleEndian?: boolean): { packets: bigint; bytes: bigint } {
  expectSize(bytes, COUNTER_SIZE, 'counter');
  return { packets: getU64(bytes, 0, littleEndian), bytes: getU64(bytes, 8, littleEndian) };
}

export function encodeU32(value: number, littleEndian?: boolean): Uint8Array {
  const out = new Uint8Array(4);
  putU32(out, 0, value, littleEndian);
  return out;
}

export function decodeU32(bytes: Uint8Array, littleEndian?: boolean): number {
  expectSize(bytes, 4, 'u32');
  return getU32(bytes, 0, littleEndian);
}

export function decodeU64(bytes: Uint8Array, littleEndian?: boolean): bigint {
  expectSize(bytes, 8, 'u64');
  return getU64(bytes, 0, littleEndian);
}

/** struct mnat_attach: ifindex, flags. */
export function encodeAttach(ifindex: number, flags: number, littleEndian?: boolean): Uint8Array {
  const out = new Uint8Array(ATTACH_SIZE);
  putU32(out, 0, ifindex, littleEndian);
  putU32(out, 4, flags, littleEndian);
  return out;
}

export function decodeAttach(bytes: Uint8Array, littleEndian?: boolean): { ifindex: number; flags: number } {
  expectSize(bytes, ATTACH_SIZE, 'attach entry');
  return { ifindex: getU32(bytes, 0, littleEndian), flags: getU32(bytes, 4, littleEndian) };
}

/** bpftool's "hex" argument form: one two-digit token per byte. */
export function hexArgs(bytes: Uint8Array): string[] {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0'));
}

/** bpftool -j prints bytes as ["0x0a", ...]. */
export function bytesFromJson(value: unknown, what: string): Uint8Array {
  if (!Array.isArray(value)) throw badData(`${what}: expected an array of hex bytes from bpftool`);
  return Uint8Array.from(value, (item) => {
    const n = typeof item === 'string' ? parseInt(item, 16) : NaN;
    if (!(n >= 0 && n <= 255)) throw badData(`${what}: "${String(item)}" is not a hex byte`);
    return n;
  });
}

/** One entry of `bpftool -j map dump`: the key and one value (or one per CPU). */
export interface DumpEntry {
  readonly key: Uint8Array;
  readonly values: Uint8Array[];
}

export function parseMapDump(json: string, what: string): DumpEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json === '' ? '[]' : json);
  } catch {
    throw badData(`${what}: bpftool printed something that is not JSON: ${json.slice(0, 200)}`);
  }
  if (!Array.isArray(parsed)) throw badData(`${what}: expected a JSON array from bpftool map dump`);
  return parsed.map((entry: { key?: unknown; value?: unknown; values?: Array<{ value?: unknown }> }) => ({
    key: bytesFromJson(entry.key, `${what} key`),
    values: Array.isArray(entry.values)
      ? entry.values.map((v) => bytesFromJson(v.value, `${what} per-CPU value`))
      : [bytesFromJson(entry.value, `${what} value`)],
  }));
}

/** One mnat_rules dump entry: the channel it matches and its value (the family comes from the key). */
export function decodeRuleEntry(entry: DumpEntry): { from: Channel; value: RuleValue } {
  const from = decodeKey(entry.key);
  return { from, value: decodeValue(entry.values[0] as Uint8Array, parseChannel(from.source, from.group).family) };
}

/** The per-CPU values of one mnat_counters entry, summed; a value of another size is skipped. */
export function sumCounters(values: readonly Uint8Array[], littleEndian?: boolean): { packets: number; bytes: number } {
  let packets = 0n;
  let bytes = 0n;
  for (const v of values) {
    if (v.length !== COUNTER_SIZE) continue;
    const c = decodeCounter(v, littleEndian);
    packets += c.packets;
    bytes += c.bytes;
  }
  return { packets: Number(packets), bytes: Number(bytes) };
}
