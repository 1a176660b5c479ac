// Spreads source-specific memberships across sockets. Linux limits each socket
// to net.ipv4.igmp_max_memberships groups (default 20) and, per group, to
// net.ipv4.igmp_max_msf sources (default 10; IPv6: mld_max_msf, default 64).
// Pure: the socket backend maps slot numbers to real sockets.

export interface SlotLimits {
  /** Distinct groups per socket. */
  maxGroups: number;
  /** Sources per group per socket. */
  maxSourcesPerGroup: number;
}

interface Slot {
  groups: Map<string, Set<string>>;
}

export class MembershipSlots {
  private readonly slots: Array<Slot | null> = [];

  constructor(private readonly limits: SlotLimits) {
    if (limits.maxGroups < 1 || limits.maxSourcesPerGroup < 1) throw new Error('MembershipSlots: limits must be >= 1');
  }

  /** The slot already holding (source, group), or null. */
  find(source: string, group: string): number | null {
    for (let i = 0; i < this.slots.length; i++) {
      if (this.slots[i]?.groups.get(group)?.has(source)) return i;
    }
    return null;
  }

  /**
   * Places (source, group) and returns its slot and whether that slot is new
   * (the caller opens a socket for it). Prefers a slot that already has the
   * group (no extra group membership), then any slot with room, then a new one.
   */
  place(source: string, group: string): { slot: number; created: boolean } {
    const existing = this.find(source, group);
    if (existing !== null) return { slot: existing, created: false };
    let chosen = -1;
    for (let i = 0; i < this.slots.length && chosen < 0; i++) {
      const sources = this.slots[i]?.groups.get(group);
      if (sources && sources.size < this.limits.maxSourcesPerGroup) chosen = i;
    }
    for (let i = 0; i < this.slots.length && chosen < 0; i++) {
      const s = this.slots[i];
      if (s && !s.groups.has(group) && s.groups.size < this.limits.maxGroups) chosen = i;
    }
    let created = false;
    if (chosen < 0) {
      chosen = this.slots.indexOf(null);
      if (chosen < 0) chosen = this.slots.length;
      this.slots[chosen] = { groups: new Map() };
      created = true;
    }
    const slot = this.slots[chosen]!;
    let sources = slot.groups.get(group);
    if (!sources) slot.groups.set(group, (sources = new Set()));
    sources.add(source);
    return { slot: chosen, created };
  }

  /** Removes (source, group); returns its slot and whether the slot is now empty (close its socket), or null if absent. */
  remove(source: string, group: string): { slot: number; emptied: boolean } | null {
    const i = this.find(source, group);
    if (i === null) return null;
    const slot = this.slots[i]!;
    const sources = slot.groups.get(group)!;
    sources.delete(source);
    if (sources.size === 0) slot.groups.delete(group);
    const emptied = slot.groups.size === 0;
    if (emptied) this.slots[i] = null;
    return { slot: i, emptied };
  }

  /** The memberships held by a slot. */
  members(slot: number): Array<{ source: string; group: string }> {
    const out: Array<{ source: string; group: string }> = [];
    for (const [group, sources] of this.slots[slot]?.groups ?? []) for (const source of sources) out.push({ source, group });
    return out;
  }

  /** Slots in use. */
  get size(): number {
    return this.slots.filter((s) => s !== null).length;
  }
}
