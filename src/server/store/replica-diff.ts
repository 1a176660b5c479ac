// What a front end's subscribers must hear when its replica is replaced by
// another (a reload from etcd's snapshot): pure comparisons of two states.
import type { MappedChannel } from '../../protocol/model.ts';
import type { MnatState } from '../state/mnat-state.ts';
import type { ChannelChange } from '../state/state-types.ts';

/** Watchers of `old` that `next` lacks (removed) or maps differently (changed; removed ones too). */
export function watcherDifferences(old: MnatState, next: MnatState): { removed: string[]; changed: string[] } {
  const removed: string[] = [];
  const changed: string[] = [];
  for (const id of old.watcherIds()) {
    if (!next.hasWatcher(id)) {
      removed.push(id);
      changed.push(id);
    } else if (JSON.stringify(old.assignedChannels(id)) !== JSON.stringify(next.assignedChannels(id))) {
      changed.push(id);
    }
  }
  return { removed, changed };
}

/** For the MQTT fan-out: the mappings `next` holds differently from `old`, and the channels it lost (mapping null). */
export function channelDifferences(old: MnatState, next: MnatState): ChannelChange[] {
  const mappings = (s: MnatState): Map<string, MappedChannel> => new Map(s.channels().map(({ egressWatchers: _, ...m }) => [`${m.global.source},${m.global.group}`, m]));
  const before = mappings(old);
  const changes: ChannelChange[] = [];
  for (const [key, m] of mappings(next)) {
    if (JSON.stringify(before.get(key)) !== JSON.stringify(m)) changes.push({ channel: m.global, mapping: m });
    before.delete(key);
  }
  for (const m of before.values()) changes.push({ channel: m.global, mapping: null });
  return changes;
}
