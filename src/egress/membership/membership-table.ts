// The egress's desired channels: the union of what every membership input
// (the bridge's snooping table, a control file) wants, each channel kept while
// at least one holder (a bridge port, a control-file line) still wants it.
import { channelKey, type Channel } from '../../core/channel.ts';

export interface MembershipChange {
  /** Channels no input wanted before and some input wants now. */
  readonly added: Channel[];
  /** Channels some input wanted before and none wants now. */
  readonly removed: Channel[];
}

export interface HeldChannel {
  readonly channel: Channel;
  readonly holders: readonly string[];
}

export class MembershipTable {
  /** input name -> channel key -> holders */
  readonly #inputs = new Map<string, Map<string, HeldChannel>>();

  /**
   * Replaces the full state of one input (e.g. "mdb" or "control-file") and
   * returns the change of the union. Holders are namespaced by input, so the
   * same port name from two inputs never collides.
   */
  update(input: string, channels: Iterable<HeldChannel>): MembershipChange {
    const before = this.#union();
    const next = new Map<string, HeldChannel>();
    for (const held of channels) {
      if (held.holders.length === 0) continue;
      const key = channelKey(held.channel);
      const prev = next.get(key);
      next.set(key, {
        channel: held.channel,
        holders: prev ? [...new Set([...prev.holders, ...held.holders])].sort() : [...held.holders].sort(),
      });
    }
    if (next.size === 0) this.#inputs.delete(input);
    else this.#inputs.set(input, next);
    const after = this.#union();
    const added: Channel[] = [];
    const removed: Channel[] = [];
    for (const [key, held] of after) if (!before.has(key)) added.push(held.channel);
    for (const [key, held] of before) if (!after.has(key)) removed.push(held.channel);
    return { added, removed };
  }

  /** Drops an input entirely (e.g. the control file was removed from the config). */
  remove(input: string): MembershipChange {
    return this.update(input, []);
  }

  /** The desired channels, sorted by key (a stable order for PUTs and logs). */
  channels(): Channel[] {
    const u = this.#union();
    return [...u.keys()].sort().map((k) => u.get(k)!.channel);
  }

  /** Every holder of a channel as "input:holder". */
  holders(channel: Channel): string[] {
    return this.#union().get(channelKey(channel))?.holders.slice() ?? [];
  }

  get size(): number {
    return this.#union().size;
  }

  #union(): Map<string, HeldChannel> {
    const out = new Map<string, { channel: Channel; holders: string[] }>();
    for (const [input, map] of this.#inputs) {
      for (const [key, held] of map) {
        let h = out.get(key);
        if (!h) out.set(key, (h = { channel: held.channel, holders: [] }));
        for (const who of held.holders) h.holders.push(`${input}:${who}`);
      }
    }
    for (const h of out.values()) h.holders.sort();
    return out;
  }
}
