// The Linux bridge's multicast database (snooping table) as iproute2 prints it:
// `bridge -j -d mdb show` (JSON) and `bridge monitor mdb` (text lines).
//
// Shape measured on kernel 6.18 / iproute2 6.1 with IGMPv3/MLDv2 snooping: for a
// host's source-specific join the bridge holds, per port, one (*,G) entry with
// "filter_mode":"include" and a "source_list" of {address, timer}, plus one
// (S,G) entry per source with "src". ASM joins are (*,G) with
// "filter_mode":"exclude"; IGMPv2/MLDv1 reports and entries of the bridge's own
// host port carry no filter_mode. "vid" appears with VLAN snooping, "timer"
// with -s. Pure: runs on QuickJS.
import { isSsmGroup, tryParseAddress, type Address } from '../../core/address.ts';
import { canonicalChannel, channelKey, type Channel } from '../../core/channel.ts';
import { LAN_BRIDGE_README } from '../bridge-plan.ts';

export class MdbParseError extends Error {
  override readonly name = 'MdbParseError';
}

export interface MdbListedSource {
  readonly address: string;
  /** Seconds left on the source timer, when printed. */
  readonly timerS: number | null;
}

export interface MdbEntry {
  readonly bridge: string;
  /** The bridge port, or the bridge itself for joins of the router's own stack. */
  readonly port: string;
  readonly group: string;
  /** Set on per-source (S,G) entries. */
  readonly source: string | null;
  /** null when the kernel reported no filter mode (IGMPv2/MLDv1 or an old kernel). */
  readonly filterMode: 'include' | 'exclude' | null;
  readonly sourceList: readonly MdbListedSource[];
  readonly vlan: number | null;
  /** "temp" (learned) or "permanent" (configured with `bridge mdb add`). */
  readonly state: string;
  readonly timerS: number | null;
  /** iproute2's flag words, e.g. "blocked", "added_by_star_ex", "offload". */
  readonly flags: readonly string[];
}

function asString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function asTimer(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return null;
  const n = Number(value.trim());
  return Number.isFinite(n) ? n : null;
}

function parseEntry(raw: unknown, where: string): MdbEntry {
  if (raw === null || typeof raw !== 'object') throw new MdbParseError(`${where} is not an object`);
  const e = raw as Record<string, unknown>;
  const bridge = asString(e['dev']);
  const port = asString(e['port']);
  const group = asString(e['grp']);
  if (bridge === null || port === null || group === null) {
    throw new MdbParseError(`${where} lacks dev, port or grp`);
  }
  const mode = e['filter_mode'];
  const sourceList: MdbListedSource[] = [];
  if (Array.isArray(e['source_list'])) {
    for (const s of e['source_list'] as unknown[]) {
      const address = s && typeof s === 'object' ? asString((s as Record<string, unknown>)['address']) : null;
      if (address === null) throw new MdbParseError(`${where}.source_list has an entry without address`);
      sourceList.push({ address, timerS: asTimer((s as Record<string, unknown>)['timer']) });
    }
  }
  return {
    bridge,
    port,
    group,
    source: asString(e['src']),
    filterMode: mode === 'include' || mode === 'exclude' ? mode : null,
    sourceList,
    vlan: typeof e['vid'] === 'number' ? e['vid'] : null,
    state: asString(e['state']) ?? 'temp',
    timerS: asTimer(e['timer']),
    flags: Array.isArray(e['flags']) ? (e['flags'] as unknown[]).filter((f): f is string => typeof f === 'string') : [],
  };
}

/**
 * Parses `bridge -j [-d] [-s] mdb show [dev BR]` output. With `bridge` given,
 * entries of other bridges are dropped. Throws MdbParseError on anything that
 * is not that shape (so a changed iproute2 is noticed, not silently ignored).
 */
export function parseMdbJson(text: string, bridge?: string): MdbEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text.trim() === '' ? '[]' : text);
  } catch (err) {
    throw new MdbParseError(`bridge mdb output is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc)) throw new MdbParseError('bridge mdb output is not a JSON array');
  const entries: MdbEntry[] = [];
  doc.forEach((block: unknown, i) => {
    if (block === null || typeof block !== 'object') throw new MdbParseError(`[${i}] is not an object`);
    const mdb = (block as Record<string, unknown>)['mdb'];
    if (mdb === undefined) return; // a "router"-only block
    if (!Array.isArray(mdb)) throw new MdbParseError(`[${i}].mdb is not an array`);
    mdb.forEach((raw: unknown, j) => {
      const entry = parseEntry(raw, `[${i}].mdb[${j}]`);
      if (bridge === undefined || entry.bridge === bridge) entries.push(entry);
    });
  });
  return entries;
}

/** A `bridge monitor mdb` line, e.g. "Deleted dev br-lan port p1 grp 232.1.1.1 src 10.1.1.1 temp". */
export interface MdbEvent {
  readonly deleted: boolean;
  readonly bridge: string;
  readonly port: string;
  readonly group: string;
  readonly source: string | null;
}

/** Parses one monitor line; null for lines that are not mdb entries (router ports, banners). */
export function parseMdbMonitorLine(line: string): MdbEvent | null {
  const words = line.trim().split(/\s+/);
  let deleted = false;
  if (words[0] === 'Deleted') {
    deleted = true;
    words.shift();
  }
  const field = (name: string): string | null => {
    const i = words.indexOf(name);
    return i >= 0 && i + 1 < words.length ? (words[i + 1] as string) : null;
  };
  const bridge = field('dev');
  const port = field('port');
  const group = field('grp');
  if (bridge === null || port === null || group === null) return null;
  return { deleted, bridge, port, group, source: field('src') };
}

/** no-source: a (*,G) join of an SSM-range group, i.e. a host reporting IGMPv2/MLDv1 (it heard such a query). */
export type IgnoreReason = 'asm' | 'no-source' | 'link-local' | 'router' | 'invalid';

export interface IgnoredJoin {
  readonly group: string;
  readonly port: string;
  readonly reason: IgnoreReason;
  readonly detail: string;
}

/** Who holds a channel: "port" or "port.vid" strings, so one host's leave leaves the others. */
export interface ChannelHolders {
  readonly channel: Channel;
  readonly holders: readonly string[];
}

export interface MdbMemberships {
  /** Keyed by channelKey; holders sorted. */
  readonly channels: Map<string, ChannelHolders>;
  /** (*,G) / EXCLUDE joins and unusable entries, for a debug log; one per (port, group). */
  readonly ignored: IgnoredJoin[];
}

// Link-local scope: 224.0.0.0/24 and ffx2::/16 (solicited-node, all-snoopers...):
// control traffic of the LAN itself, never a channel to fetch from upstream.
function isLinkLocalGroup(a: Address): boolean {
  if (a.family === 4) return a.value >> 8n === 0xe00000n;
  return ((a.value >> 112n) & 0xff0fn) === 0xff02n || ((a.value >> 112n) & 0xff0fn) === 0xff01n;
}

/**
 * The source-specific channels the LAN has joined, with the ports holding
 * each. (S,G) comes from per-source entries and from INCLUDE source lists
 * (either alone suffices; together they agree). EXCLUDE and mode-less (*,G)
 * entries are ASM joins: reported as ignored until ASM is supported.
 */
export function membershipsFromMdb(entries: readonly MdbEntry[]): MdbMemberships {
  const holders = new Map<string, { channel: Channel; holders: Set<string> }>();
  const ignored = new Map<string, IgnoredJoin>();
  const ignore = (e: MdbEntry, reason: IgnoreReason, detail: string): void => {
    const k = `${e.port}|${e.group}`;
    if (!ignored.has(k)) ignored.set(k, { group: e.group, port: e.port, reason, detail });
  };
  const add = (e: MdbEntry, source: string): void => {
    let channel: Channel;
    try {
      channel = canonicalChannel(source, e.group);
    } catch (err) {
      ignore(e, 'invalid', (err as Error).message);
      return;
    }
    const key = channelKey(channel);
    let h = holders.get(key);
    if (!h) holders.set(key, (h = { channel, holders: new Set() }));
    h.holders.add(e.vlan === null ? e.port : `${e.port}.${e.vlan}`);
  };
  for (const e of entries) {
    if (e.port === e.bridge) {
      // The router's own stack (e.g. ff05::2 with forwarding on): translated
      // packets are sent out of the bridge's ports, never up to the router.
      ignore(e, 'router', "the router's own membership");
      continue;
    }
    const g = tryParseAddress(e.group);
    if (g === null) {
      ignore(e, 'invalid', `group "${e.group}" is not an IP address`);
      continue;
    }
    if (isLinkLocalGroup(g)) {
      ignore(e, 'link-local', 'link-local scope group');
      continue;
    }
    if (e.source !== null) {
      // A blocked source (EXCLUDE list) or an (S,G) the kernel copied from a
      // (*,G) EXCLUDE join is not a request for that source.
      if (e.flags.includes('blocked') || e.flags.includes('added_by_star_ex')) continue;
      add(e, e.source);
    } else if (e.filterMode === 'include') {
      for (const s of e.sourceList) add(e, s.address);
    } else if (isSsmGroup(g)) {
      // An IGMPv3/MLDv2 host never joins an SSM group without a source: an IGMPv2/MLDv1 report.
      ignore(e, 'no-source', `SSM group joined without a source: an IGMPv2/MLDv1 report; no IGMPv2/MLDv1 querier on the LAN (${LAN_BRIDGE_README})`);
    } else {
      ignore(
        e,
        'asm',
        e.filterMode === 'exclude'
          ? '(*,G) EXCLUDE join; ASM is not supported'
          : '(*,G) join without sources (IGMPv2/MLDv1 report?); ASM is not supported',
      );
    }
  }
  const channels = new Map<string, ChannelHolders>();
  for (const key of [...holders.keys()].sort()) {
    const h = holders.get(key)!;
    channels.set(key, { channel: h.channel, holders: [...h.holders].sort() });
  }
  return { channels, ignored: [...ignored.values()] };
}
