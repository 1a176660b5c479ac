// The joinfile: the ingress's full set of upstream-joined global channels, one
// "source,group" per line, in the format driad-ingest (multicast-ingest-platform)
// reads. The reader skips blank lines and '#' comments; we never write either.
// Order is stable (family, then source, then group, numerically) so that an
// unchanged state renders to the same bytes and a diff of two files is minimal.
import { parseAddress } from '../core/address.ts';
import { canonicalChannel, channelKey, type Channel } from '../core/channel.ts';

export interface JoinfileProblem {
  /** 1-based line number. */
  readonly line: number;
  readonly text: string;
  readonly message: string;
}

export interface ParsedJoinfile {
  readonly channels: Channel[];
  /** Lines that were skipped (the reader skips them too, it does not reject the file). */
  readonly problems: JoinfileProblem[];
}

/** Numeric order: IPv4 before IPv6, then source, then group. Throws AddressError on invalid text. */
export function compareChannels(a: Channel, b: Channel): number {
  const as = parseAddress(a.source);
  const bs = parseAddress(b.source);
  if (as.family !== bs.family) return as.family - bs.family;
  if (as.value !== bs.value) return as.value < bs.value ? -1 : 1;
  const ag = parseAddress(a.group).value;
  const bg = parseAddress(b.group).value;
  return ag === bg ? 0 : ag < bg ? -1 : 1;
}

/** Canonical, deduplicated, sorted copy of a channel set. Throws AddressError on an invalid channel. */
export function sortChannels(channels: Iterable<Channel>): Channel[] {
  const byKey = new Map<string, Channel>();
  for (const c of channels) {
    const canonical = canonicalChannel(c.source, c.group);
    byKey.set(channelKey(canonical), canonical);
  }
  return [...byKey.values()].sort(compareChannels);
}

/** The file's bytes for a set of channels: full state, sorted, each line newline-terminated ("" when empty). */
export function renderJoinfile(channels: Iterable<Channel>): string {
  let text = '';
  for (const c of sortChannels(channels)) text += `${channelKey(c)}\n`;
  return text;
}

/**
 * Reads a joinfile the way an ingest manager does: blank lines and '#' comments
 * skipped, fields trimmed, invalid lines reported (with their line number) and
 * skipped. Channels come back canonical, deduplicated and sorted.
 */
export function parseJoinfile(text: string): ParsedJoinfile {
  const found: Channel[] = [];
  const problems: JoinfileProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(',');
    if (fields.length !== 2) {
      problems.push({ line: i + 1, text: raw, message: 'expected "source,group"' });
      continue;
    }
    try {
      found.push(canonicalChannel((fields[0] ?? '').trim(), (fields[1] ?? '').trim()));
    } catch (err) {
      problems.push({ line: i + 1, text: raw, message: (err as Error).message });
    }
  }
  return { channels: sortChannels(found), problems };
}
