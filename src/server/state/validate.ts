// Input checks of the state machine: a client's joins and monitors are
// validated whole and canonicalised into journal tuples before anything
// changes, so a refused request changes nothing.
import { AddressError, formatPrefix, isLoopback, parsePrefix, unforwardedGroupReason } from '../../core/address.ts';
import { channelOf, parseChannel, type Channel, type ParsedChannel } from '../../core/channel.ts';
import type { JoinedSg, Monitor } from '../../protocol/model.ts';
import { MnatError, type JoinTuple, type MonitorTuple } from './state-types.ts';

export function checkLimit(n: number, what: string, limit: number): void {
  if (n > limit) {
    throw new MnatError('too-many-joins', `${n} ${what} entries exceed the limit of ${limit} per watcher`, what);
  }
}

/**
 * Checks ids and addresses and canonicalises; a merge only grows, so its input
 * alone may already exceed the limit. `known` returns the canonical channel of
 * one someone already joins (no parsing needed, and its strings are shared).
 */
export function validateJoins(joins: JoinedSg[], limit: number, known: (key: string) => Channel | undefined): JoinTuple[] {
  if (!Array.isArray(joins)) throw new MnatError('invalid-value', 'joined-sg must be a list', 'joined-sg');
  checkLimit(joins.length, 'joined-sg', limit);
  const seen = new Set<string>();
  return joins.map((j, i) => {
    const path = `joined-sg[${i}]`;
    if (j === null || typeof j !== 'object' || typeof j.id !== 'string' || j.id === '') {
      throw new MnatError('invalid-value', 'each joined-sg needs a non-empty string id', `${path}/id`);
    }
    if (seen.has(j.id)) throw new MnatError('invalid-value', `joined-sg id "${j.id}" appears twice`, `${path}/id`);
    seen.add(j.id);
    const ch = j.channel;
    if (ch === null || typeof ch !== 'object' || typeof ch.source !== 'string' || typeof ch.group !== 'string') {
      throw new MnatError('invalid-value', 'joined-sg needs a source and a group', path);
    }
    const canonical = known(`${ch.source},${ch.group}`);
    if (canonical) return [j.id, canonical.source, canonical.group];
    let parsed: ParsedChannel;
    try {
      parsed = parseChannel(ch.source, ch.group);
    } catch (e) {
      throw new MnatError('invalid-value', e instanceof AddressError ? e.message : String(e), path);
    }
    const why = unforwardedGroupReason(parsed.group);
    if (why) throw new MnatError('invalid-value', `group ${ch.group} ${why}`, `${path}/group`);
    if (isLoopback(parsed.source)) throw new MnatError('invalid-value', `source ${ch.source} is a loopback address`, `${path}/source`);
    const c = channelOf(parsed);
    return [j.id, c.source, c.group];
  });
}

export function validateMonitors(monitors: Monitor[], limit: number): MonitorTuple[] {
  if (!Array.isArray(monitors)) throw new MnatError('invalid-value', 'monitor must be a list', 'monitor');
  checkLimit(monitors.length, 'monitor', limit);
  const seen = new Set<string>();
  return monitors.map((m, i) => {
    const path = `monitor[${i}]`;
    if (m === null || typeof m !== 'object' || typeof m.id !== 'string' || m.id === '') {
      throw new MnatError('invalid-value', 'each monitor needs a non-empty string id', `${path}/id`);
    }
    if (seen.has(m.id)) throw new MnatError('invalid-value', `monitor id "${m.id}" appears twice`, `${path}/id`);
    seen.add(m.id);
    try {
      return [m.id, formatPrefix(parsePrefix(m.globalSourcePrefix))];
    } catch (e) {
      throw new MnatError('invalid-value', e instanceof AddressError ? e.message : String(e), `${path}/global-source-prefix`);
    }
  });
}

/** PATCH merge of keyed entries: a known id is replaced in place, a new one appended. */
export function mergeById<T extends string[]>(current: T[], incoming: T[]): T[] {
  const index = new Map<string, number>();
  current.forEach((t, i) => index.set(t[0] as string, i));
  for (const t of incoming) {
    const at = index.get(t[0] as string);
    if (at !== undefined) current[at] = t;
    else index.set(t[0] as string, current.push(t) - 1);
  }
  return current;
}

export function sameTuples(a: string[][], b: string[][]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as string[];
    const y = b[i] as string[];
    if (x.length !== y.length || x.some((v, k) => v !== y[k])) return false;
  }
  return true;
}
