// The channel records of the state machine: one per globally joined (Sg,Gg),
// with its stable assignment id, its creation order and, once the pool allows,
// its local mapping. Ids and order are deterministic so a replayed journal
// recomputes the same ones.
import { tryParseAddress, type Address } from '../../core/address.ts';
import type { Channel } from '../../core/channel.ts';
import type { LocalMapping, MappedChannel } from '../../protocol/model.ts';
import type { ChannelChange } from './state-types.ts';

export interface ChannelRec<W> {
  readonly key: string;
  readonly channel: Channel;
  /** Kept parsed for ingress prefix matching. */
  readonly src: Address;
  readonly id: number;
  readonly seq: number;
  local: LocalMapping | null;
  /** Egress watchers joining this channel. */
  readonly wanters: Set<W>;
  /** The shared MappedChannel every watcher's list holds. */
  view: MappedChannel;
}

const MAX_ASSIGNMENT_ID = 0xffffffff;

function makeView(rec: { id: number; channel: Channel; local: LocalMapping | null }): MappedChannel {
  return { id: rec.id, global: rec.channel, state: rec.local ? 'assigned' : 'unassigned', local: rec.local };
}

/** The distinct channels of a watcher's flat [joinId, channel, …] joins (none: null). */
export function distinctChannels<C>(joins: ReadonlyArray<string | C> | null): C[] {
  if (!joins) return [];
  const out: C[] = [];
  // Few joins (the usual case): a linear scan beats a Set; many: a Set keeps it O(n).
  const seen = joins.length > 32 ? new Set<C>() : null;
  for (let i = 1; i < joins.length; i += 2) {
    const c = joins[i] as C;
    if (seen ? seen.has(c) : out.includes(c)) continue;
    seen?.add(c);
    out.push(c);
  }
  return out;
}

export class ChannelTable<W> {
  readonly byKey = new Map<string, ChannelRec<W>>();
  readonly assigned = new Set<ChannelRec<W>>();
  /** Channels without a local mapping, in creation order. */
  readonly waiting = new Set<ChannelRec<W>>();
  private readonly ids = new Set<number>();
  /** Channels opened, assigned or closed since the last look, by key (only while someone listens). */
  private touched: Map<string, ChannelRec<W>> | null = null;
  private readonly listeners: Array<(changes: ChannelChange[]) => void> = [];
  nextAssignmentId = 1;
  nextSeq = 1;

  /** A new waiting channel with the next free assignment id and sequence number. */
  open(source: string, group: string): ChannelRec<W> {
    return this.add(source, group, this.takeAssignmentId(), this.nextSeq++);
  }

  /** A waiting channel with known id and sequence number (restore). */
  add(source: string, group: string, id: number, seq: number): ChannelRec<W> {
    // Live joins were validated already; this only guards restored data.
    const src = tryParseAddress(source);
    if (src === null || !group.length) throw new Error(`state: "${source},${group}" is not a channel`);
    const channel = { source, group };
    const rec: ChannelRec<W> = { key: `${source},${group}`, channel, src, id, seq, local: null, wanters: new Set(), view: makeView({ id, channel, local: null }) };
    this.byKey.set(rec.key, rec);
    this.waiting.add(rec);
    this.ids.add(id);
    this.touched?.set(rec.key, rec);
    return rec;
  }

  assign(c: ChannelRec<W>, local: LocalMapping): void {
    c.local = local;
    c.view = makeView(c);
    this.assigned.add(c);
    this.waiting.delete(c);
    this.touched?.set(c.key, c);
  }

  /** Forgets a channel nobody joins any more (the caller releases its local pair). */
  close(c: ChannelRec<W>): void {
    this.assigned.delete(c);
    this.waiting.delete(c);
    this.byKey.delete(c.key);
    this.ids.delete(c.id);
    this.touched?.set(c.key, c);
  }

  /** From now on, tellTouched() reports to listener. */
  listen(listener: (changes: ChannelChange[]) => void): void {
    this.touched ??= new Map();
    this.listeners.push(listener);
  }

  /** Tells the listeners each channel touched since the last time, as it is now (mapping null: closed). */
  tellTouched(): void {
    const t = this.touched;
    if (!t || t.size === 0) return;
    const changes = [...t].map(([key, c]): ChannelChange => ({ channel: c.channel, mapping: this.byKey.get(key)?.view ?? null }));
    t.clear();
    for (const l of this.listeners) l(changes);
  }

  /** Next free uint32 assignment id. */
  private takeAssignmentId(): number {
    for (;;) {
      const id = this.nextAssignmentId;
      this.nextAssignmentId = id >= MAX_ASSIGNMENT_ID ? 1 : id + 1;
      if (!this.ids.has(id)) return id;
    }
  }
}
