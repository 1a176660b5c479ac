// The MNAT service's assignment state machine (pure: time comes in as nowMs).
// Its vocabulary (options, MnatError, StateChange records, the snapshot) is in
// state-types.ts, input checks in validate.ts, channel records in
// channel-table.ts, per-client watcher quotas in quotas.ts. Options default to
// 10 / 250 / 64 (refresh, grace, joins per watcher); stats().poolSize is a
// bigint (pools can be /64s).
//
// Model: watchers (egress: joined channels; ingress: source-prefix monitors),
// one channel record per globally joined (Sg,Gg) with its stable assignment id
// and, when the pool allows, its local mapping. A channel exists while at
// least one egress watcher joins it; on the last leave its local pair goes
// into the pool's grace period. Waiting (unassigned) channels are served as
// soon as space frees, most-wanted first, ties oldest first.
//
// Durability: every mutation is an effect record (StateChange) emitted through
// onChange and applied by the same code that applyChange uses for replay, so
// a replayed journal reproduces the live state by construction. Records carry
// decisions (watcher ids, chosen local mappings, expiries, grace ends);
// consequences that follow deterministically (new channel records, assignment
// ids, releases into grace at the record's time) are recomputed on replay.
// Refreshes are not journaled: after restore/replay restartClocks(now) gives
// every watcher a fresh expiry window.
//
// Memory: a watcher is one small object plus a flat [joinId, channel, ...]
// array referencing shared channel records, kept in refresh order
// (refresh-order.ts): refresh is O(1), expiry looks at the head. Versions
// (ETags) count per state object, not in snapshots (the server adds an epoch).
import { parsePrefix, prefixContains, type Prefix } from '../../core/address.ts';
import type { Channel } from '../../core/channel.ts';
import { localGroup, type JoinedSg, type MappedChannel, type Monitor } from '../../protocol/model.ts';
import type { Pool } from './pool.ts';
import { MnatError, resolveLimits, wrongRoleError, type ChannelRow, type JoinTuple, type MnatStateOptions, type MnatStats, type MonitorTuple } from './state-types.ts';
import type { ChannelChange, StateChange, StateSnapshot, WatcherRole } from './state-types.ts';
import { ChannelTable, distinctChannels, type ChannelRec as ChannelRecOf } from './channel-table.ts';
import { RefreshOrder } from './refresh-order.ts';
import { runSteps } from './steps.ts';
import { WatcherQuotas } from './quotas.ts';
import { checkLimit, mergeById, sameTuples, validateJoins, validateMonitors } from './validate.ts';

export { MnatError } from './state-types.ts';
export type { ChannelChange, ChannelRow, JoinTuple, MnatErrorKind, MnatStateOptions, MnatStats, MonitorTuple, StateChange, StateSnapshot, WatcherRole } from './state-types.ts';

type ChannelRec = ChannelRecOf<WatcherRec>;

interface IngressPart {
  monitors: Monitor[];
  prefixes: Prefix[];
  cache: MappedChannel[] | null;
}

interface WatcherRec {
  readonly id: string;
  readonly owner: string | undefined;
  /** The client address that created it without a certificate (per-address quota). */
  readonly creator: string | undefined;
  last: number;
  /** Flat [joinId, channel, joinId, channel, ...]; null: no egress entry. */
  joins: Array<string | ChannelRec> | null;
  ing: IngressPart | null;
  version: number;
  /** Neighbours in refresh order (oldest first), for O(1) refresh and expiry. */
  prev: WatcherRec | null;
  next: WatcherRec | null;
}

export class MnatState {
  readonly refreshPeriodS: number;
  readonly gracePeriodS: number;
  readonly maxJoinsPerWatcher: number;
  private readonly pool: Pool;
  private readonly newWatcherId: (() => string) | undefined;
  /** Infinity when options.expireIdle is false. */
  private readonly expiryMs: number;
  private readonly graceMs: number;

  private readonly watchers = new Map<string, WatcherRec>();
  private readonly table = new ChannelTable<WatcherRec>();
  private readonly channelMap = this.table.byKey;
  private readonly assigned = this.table.assigned;
  /** Channels without a local mapping, in creation order. */
  private readonly waiting = this.table.waiting;
  private readonly ingress = new Set<WatcherRec>();
  /** Watcher ids by the client certificate they are bound to (container GETs list only the caller's). */
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly quotas: WatcherQuotas;
  private egressCount = 0;
  private readonly order = new RefreshOrder<WatcherRec>();
  private versionCounter = 0;
  private now = -Infinity;
  private needServe = false;
  private depth = 0;
  private readonly dirty = new Set<WatcherRec>();
  private removed: Array<[string, 'expired' | 'deleted']> = [];
  private readonly changeListeners: Array<(change: StateChange) => void> = [];
  private readonly watcherListeners: Array<(ids: string[]) => void> = [];
  private readonly removedListeners: Array<(id: string, reason: 'expired' | 'deleted') => void> = [];
  /** The canonical channel of a "source,group" someone joins already (validation skips parsing it). */
  private readonly knownChannel = (key: string): Channel | undefined => this.channelMap.get(key)?.channel;

  constructor(options: MnatStateOptions) {
    this.pool = options.pool;
    this.newWatcherId = options.newWatcherId;
    ({ refreshPeriodS: this.refreshPeriodS, gracePeriodS: this.gracePeriodS, maxJoinsPerWatcher: this.maxJoinsPerWatcher } = resolveLimits(options));
    this.quotas = new WatcherQuotas(options);
    this.expiryMs = options.expireIdle === false ? Infinity : 3 * this.refreshPeriodS * 1000;
    this.graceMs = this.gracePeriodS * 1000;
  }
  // ---- listeners ---------------------------------------------------------
  /** ids whose assignedChannels changed, ingress watchers first; once per operation. */
  onWatchersChanged(listener: (ids: string[]) => void): void {
    this.watcherListeners.push(listener);
  }

  /** A watcher expired or was deleted (close its push streams). */
  onWatcherRemoved(listener: (id: string, reason: 'expired' | 'deleted') => void): void {
    this.removedListeners.push(listener);
  }

  /** Channels whose mapping changed (opened, assigned, closed), once per operation, as they are after it. */
  onChannelsChanged(listener: (changes: ChannelChange[]) => void): void {
    this.table.listen(listener);
  }

  /** Effect records for the durable journal, in order, before the operation returns. */
  onChange(listener: (change: StateChange) => void): void {
    this.changeListeners.push(listener);
  }

  // ---- watchers ----------------------------------------------------------
  /** A watcher with an id from options.newWatcherId. */
  createWatcher(nowMs: number, owner?: string): { id: string; refreshPeriodS: number } {
    const next = this.newWatcherId;
    if (!next) throw new Error('createWatcher needs options.newWatcherId; use addWatcher(id, …) to choose the id');
    let id = next();
    for (let tries = 0; this.watchers.has(id); tries++) {
      if (tries >= 8) throw new Error('newWatcherId keeps returning ids that are in use');
      id = next();
    }
    this.addWatcher(id, nowMs, owner);
    return { id, refreshPeriodS: this.refreshPeriodS };
  }

  /** A watcher with the caller's id (a replicated store decides ids first); MnatError 'id-in-use' if taken, or a quota refusal (quotas.ts). */
  addWatcher(id: string, nowMs: number, owner?: string, creator?: string): void {
    this.op(nowMs, () => {
      if (typeof id !== 'string' || id.length === 0) throw new Error('a watcher id must be a non-empty string');
      if (this.watchers.has(id)) throw new MnatError('id-in-use', 'this watcher id is in use already');
      this.checkQuota(owner, creator, this.now);
      const change: StateChange = { op: 'watcher-created', id, at: this.now };
      if (owner !== undefined) change.owner = owner;
      else if (creator !== undefined) change.creator = creator;
      this.commit(change);
    });
  }

  /** Throws the quota refusal a new watcher of this client would get at nowMs; changes nothing (a region front end asks before it writes). */
  checkQuota(owner: string | undefined, creator: string | undefined, nowMs: number): void {
    this.quotas.check(owner, creator, owner === undefined ? 0 : (this.byOwner.get(owner)?.size ?? 0), Math.max(nowMs, this.now));
  }

  /** Restarts the watcher's expiry window; returns the refresh period in seconds. */
  refreshWatcher(id: string, nowMs: number): number {
    return this.op(nowMs, () => {
      const w = this.watcher(id);
      this.order.moveToTail(w);
      w.last = this.now;
      return this.refreshPeriodS;
    });
  }

  hasWatcher(id: string): boolean {
    return this.watchers.has(id);
  }
  ownerOf(id: string): string | undefined {
    return this.watchers.get(id)?.owner;
  }
  roleOf(id: string): WatcherRole {
    const w = this.watcher(id);
    return w.joins ? 'egress' : w.ing ? 'ingress' : 'none';
  }
  watcherIds(): string[] {
    return [...this.watchers.keys()];
  }

  /** Watchers bound to this client certificate (see ownerOf). */
  watchersOwnedBy(owner: string): string[] {
    const ids = this.byOwner.get(owner);
    return ids ? [...ids] : [];
  }

  /** Removes a watcher at once, releasing its joins as expiry would. */
  deleteWatcher(id: string, nowMs: number): void {
    this.op(nowMs, () => {
      this.watcher(id);
      this.commit({ op: 'watcher-removed', id, reason: 'deleted', at: this.now });
    });
  }

  // ---- egress ------------------------------------------------------------
  /** PUT: replaces the watcher's joined-sg list. */
  setEgressJoins(id: string, joins: JoinedSg[], nowMs: number): void {
    this.op(nowMs, () => {
      const w = this.egressWatcher(id);
      const tuples = validateJoins(joins, this.maxJoinsPerWatcher, this.knownChannel);
      this.commitJoins(w, tuples);
    });
  }

  /** PATCH (merge): entries with a known id replace it, new ids are added. */
  mergeEgressJoins(id: string, joins: JoinedSg[], nowMs: number): void {
    this.op(nowMs, () => {
      const w = this.egressWatcher(id);
      const incoming = validateJoins(joins, this.maxJoinsPerWatcher, this.knownChannel);
      const merged = mergeById(this.joinTuples(w), incoming);
      checkLimit(merged.length, 'joined-sg', this.maxJoinsPerWatcher);
      this.commitJoins(w, merged);
    });
  }

  /** DELETE: removes the watcher's egress-global-joined entry (and with it every join). */
  deleteEgressJoins(id: string, nowMs: number): void {
    this.op(nowMs, () => {
      const w = this.watcher(id);
      if (w.joins !== null) this.commit({ op: 'joins-set', id, joins: null, at: this.now });
    });
  }

  egressJoins(id: string): JoinedSg[] {
    const j = this.watcher(id).joins;
    const out: JoinedSg[] = [];
    if (j) for (let i = 0; i < j.length; i += 2) out.push({ id: j[i] as string, channel: (j[i + 1] as ChannelRec).channel });
    return out;
  }

  // ---- ingress -----------------------------------------------------------
  setIngressMonitors(id: string, monitors: Monitor[], nowMs: number): void {
    this.op(nowMs, () => {
      const w = this.ingressWatcher(id);
      const tuples = validateMonitors(monitors, this.maxJoinsPerWatcher);
      this.commitMonitors(w, tuples);
    });
  }

  mergeIngressMonitors(id: string, monitors: Monitor[], nowMs: number): void {
    this.op(nowMs, () => {
      const w = this.ingressWatcher(id);
      const incoming = validateMonitors(monitors, this.maxJoinsPerWatcher);
      const merged = mergeById((w.ing?.monitors ?? []).map((m): MonitorTuple => [m.id, m.globalSourcePrefix]), incoming);
      checkLimit(merged.length, 'monitor', this.maxJoinsPerWatcher);
      this.commitMonitors(w, merged);
    });
  }

  deleteIngressMonitors(id: string, nowMs: number): void {
    this.op(nowMs, () => {
      const w = this.watcher(id);
      if (w.ing !== null) this.commit({ op: 'monitors-set', id, monitors: null, at: this.now });
    });
  }

  ingressMonitors(id: string): Monitor[] {
    const ing = this.watcher(id).ing;
    return ing ? ing.monitors.map((m) => ({ ...m })) : [];
  }

  // ---- reading -----------------------------------------------------------
  /** egress: one entry per joined channel; ingress: every assigned channel whose source matches a monitor. */
  assignedChannels(id: string): MappedChannel[] {
    const w = this.watcher(id);
    if (w.joins) return distinctChannels(w.joins).map((c) => c.view);
    if (w.ing) {
      if (w.ing.cache === null) {
        const out: MappedChannel[] = [];
        for (const c of this.assigned) if (this.matches(w.ing, c)) out.push(c.view);
        w.ing.cache = out;
      }
      return w.ing.cache.slice();
    }
    return [];
  }

  /** Changes whenever assignedChannels(id) changes. */
  version(id: string): number {
    return this.watcher(id).version;
  }

  /** Every channel record (assigned and waiting), for status pages. */
  channels(): ChannelRow[] {
    return [...this.channelMap.values()].map((c) => ({ ...c.view, egressWatchers: c.wanters.size }));
  }

  stats(): MnatStats {
    return {
      watchers: this.watchers.size,
      egressWatchers: this.egressCount,
      ingressWatchers: this.ingress.size,
      channelsAssigned: this.assigned.size,
      channelsUnassigned: this.channelMap.size - this.assigned.size,
      poolSize: this.pool.size(),
      poolInUse: this.pool.inUse(),
      poolInGrace: this.pool.inGrace(),
    };
  }

  // ---- time --------------------------------------------------------------
  /** Expires watchers, ends grace periods and assigns waiting channels. */
  tick(nowMs: number): void {
    this.op(nowMs, () => undefined);
  }
  /** The next time tick() has something to do, or null. */
  nextDeadlineMs(): number | null {
    let next: number | null = this.order.head && this.expiryMs !== Infinity ? this.order.head.last + this.expiryMs : null;
    const grace = this.pool.nextGraceEndMs(this.graceMs);
    if (grace !== null && (next === null || grace < next)) next = grace;
    return next;
  }

  /** Gives every watcher a fresh expiry window (after restore or replay). */
  restartClocks(nowMs: number): void {
    if (nowMs > this.now) this.now = nowMs;
    for (const w of this.watchers.values()) w.last = this.now;
  }

  // ---- durability --------------------------------------------------------
  /** Replays one effect record (no new decisions, no onChange). */
  applyChange(change: StateChange): void {
    this.operations++;
    this.depth++;
    try {
      if (change.at > this.now) this.now = change.at;
      this.apply(change, false);
    } finally {
      this.depth--;
    }
    this.flush();
  }

  snapshot(sortWatchers = true): StateSnapshot {
    return runSteps(this.snapshotSteps(Infinity, sortWatchers));
  }

  /**
   * The snapshot, yielding after every `per` watchers, for a caller that lets
   * its event loop run in between (10⁶ watchers take seconds) and changes
   * nothing meanwhile: an operation in between makes the next step throw
   * rather than return a mixture of two states.
   */
  *snapshotSteps(per: number, sortWatchers = true): Generator<void, StateSnapshot, void> {
    const operations = this.operations;
    const channels: StateSnapshot['channels'] = [];
    for (const c of this.channelMap.values()) {
      channels.push({ source: c.channel.source, group: c.channel.group, id: c.id, seq: c.seq, local: c.local });
    }
    channels.sort((a, b) => a.seq - b.seq);
    const head = { format: 'mnat-state/1' as const, nextAssignmentId: this.table.nextAssignmentId, nextSeq: this.table.nextSeq };
    const pool = this.pool.snapshot();
    const buckets = this.quotas.snapshotBuckets();
    const watchers: StateSnapshot['watchers'] = [];
    for (const w of this.watchers.values()) {
      const entry: StateSnapshot['watchers'][number] = { id: w.id };
      if (w.owner !== undefined) entry.owner = w.owner;
      if (w.creator !== undefined) entry.creator = w.creator;
      if (w.joins) entry.joins = this.joinTuples(w);
      if (w.ing) entry.monitors = w.ing.monitors.map((m) => [m.id, m.globalSourcePrefix]);
      if (watchers.push(entry) % per === 0) yield;
      if (this.operations !== operations) throw new Error('the state changed while a snapshot of it was being built; none was taken');
    }
    if (sortWatchers) watchers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { ...head, watchers, channels, pool, buckets };
  }

  /**
   * Rebuilds a state from a snapshot. options.pool must be freshly built (nothing
   * allocated). Watchers get a fresh expiry window starting at nowMs (or at the
   * first operation's time when omitted). Throws on an inconsistent snapshot.
   */
  static restore(snapshot: StateSnapshot, options: MnatStateOptions, nowMs?: number): MnatState {
    if (snapshot === null || typeof snapshot !== 'object' || snapshot.format !== 'mnat-state/1') {
      throw new Error('not an mnat-state/1 snapshot');
    }
    const s = new MnatState(options);
    s.pool.restore(snapshot.pool);
    s.quotas.restoreBuckets(snapshot.buckets);
    s.table.nextAssignmentId = snapshot.nextAssignmentId;
    s.table.nextSeq = snapshot.nextSeq;
    for (const c of [...snapshot.channels].sort((a, b) => a.seq - b.seq)) {
      const rec = s.table.add(c.source, c.group, c.id, c.seq);
      if (c.local) {
        if (!s.pool.isInUse(c.local)) throw new Error(`snapshot inconsistent: ${rec.key} maps to ${localGroup(c.local)}, which the pool does not hold in use`);
        s.table.assign(rec, c.local);
      }
    }
    const start = nowMs ?? Number.NEGATIVE_INFINITY;
    for (const sw of snapshot.watchers) {
      const w: WatcherRec = { id: sw.id, owner: sw.owner, creator: sw.creator, last: start, joins: null, ing: null, version: ++s.versionCounter, prev: null, next: null };
      s.watchers.set(w.id, w);
      s.indexOwner(w);
      s.order.pushTail(w);
      if (sw.joins) {
        w.joins = [];
        s.egressCount++;
        for (const [jid, src, grp] of sw.joins) {
          const rec = s.channelMap.get(`${src},${grp}`);
          if (!rec) throw new Error(`snapshot inconsistent: watcher joins ${src},${grp}, which has no channel record`);
          w.joins.push(jid, rec);
          rec.wanters.add(w);
        }
      }
      if (sw.monitors) s.setIngressPart(w, sw.monitors);
    }
    for (const c of s.channelMap.values()) {
      if (c.wanters.size === 0) throw new Error(`snapshot inconsistent: channel ${c.key} has no egress watcher`);
    }
    if (nowMs !== undefined) s.now = nowMs;
    else s.pendingClockStart = true;
    s.needServe = true;
    return s;
  }

  private pendingClockStart = false;
  /** Operations and replayed records so far: how a snapshot built in steps notices a change. */
  private operations = 0;

  // ---- internals: operations ---------------------------------------------
  /** Runs one public operation: housekeeping at nowMs, the work, then notifications. */
  private op<T>(nowMs: number, work: () => T): T {
    if (!Number.isFinite(nowMs)) throw new RangeError(`nowMs must be a finite number, got ${nowMs}`);
    this.operations++;
    this.depth++;
    let result: T;
    try {
      if (nowMs > this.now) this.now = nowMs;
      if (this.pendingClockStart) {
        this.pendingClockStart = false;
        this.restartClocks(this.now);
      }
      this.housekeep();
      result = work();
      this.endGrace(); // a zero grace period frees what this operation released
      this.serve();
    } catch (e) {
      // A refused request changed nothing itself, but housekeeping before it
      // may have: still tell the listeners.
      this.depth--;
      this.flush();
      throw e;
    }
    this.depth--;
    this.flush();
    return result;
  }

  private housekeep(): void {
    this.quotas.prune(this.now);
    for (let w = this.order.head; w && w.last + this.expiryMs <= this.now; w = this.order.head) {
      this.commit({ op: 'watcher-removed', id: w.id, reason: 'expired', at: this.now });
    }
    this.endGrace();
  }

  private endGrace(): void {
    for (const g of this.pool.graceDue(this.now, this.graceMs)) {
      this.commit({ op: 'grace-ended', local: g.local, at: this.now });
    }
  }

  /** Assigns waiting channels while the pool has room: most-wanted first, ties oldest first. */
  private serve(): void {
    if (!this.needServe) return;
    this.needServe = false;
    if (this.waiting.size === 0 || this.pool.free() === 0n) return;
    const room = new Map<string, boolean>();
    const candidates: ChannelRec[] = [];
    for (const c of this.waiting) {
      const fam = c.channel.group.includes(':') ? '6' : '4';
      let ok = room.get(fam);
      if (ok === undefined) room.set(fam, (ok = this.pool.canAllocate(c.channel)));
      if (ok) candidates.push(c);
    }
    candidates.sort((a, b) => b.wanters.size - a.wanters.size || a.seq - b.seq);
    for (const c of candidates) {
      const local = this.pool.allocate(c.channel);
      if (local === null) continue;
      this.commit({ op: 'mapping-assigned', source: c.channel.source, group: c.channel.group, local, at: this.now }, true);
    }
  }

  private commit(change: StateChange, alreadyClaimed = false): void {
    this.apply(change, alreadyClaimed);
    for (const l of this.changeListeners) l(change);
  }

  private flush(): void {
    if (this.depth > 0) return;
    if (this.dirty.size > 0) {
      const ing: string[] = [];
      const eg: string[] = [];
      for (const w of this.dirty) {
        if (this.watchers.get(w.id) !== w) continue;
        w.version = ++this.versionCounter;
        (w.ing ? ing : eg).push(w.id);
      }
      this.dirty.clear();
      const ids = ing.concat(eg);
      if (ids.length > 0) for (const l of this.watcherListeners) l(ids);
    }
    this.table.tellTouched();
    if (this.removed.length > 0) {
      const removed = this.removed;
      this.removed = [];
      for (const [id, reason] of removed) for (const l of this.removedListeners) l(id, reason);
    }
  }

  // ---- internals: applying records ---------------------------------------
  private apply(change: StateChange, alreadyClaimed: boolean): void {
    switch (change.op) {
      case 'watcher-created': {
        if (this.watchers.has(change.id)) throw new Error(`replay: watcher ${change.id} exists already`);
        const w: WatcherRec = { id: change.id, owner: change.owner, creator: change.creator, last: change.at, joins: null, ing: null, version: ++this.versionCounter, prev: null, next: null };
        this.quotas.take(w.owner, w.creator, change.at);
        this.watchers.set(change.id, w);
        this.indexOwner(w);
        this.order.pushTail(w);
        return;
      }
      case 'watcher-removed': {
        const w = this.watcher(change.id);
        if (w.joins) this.replaceJoins(w, null, change.at);
        if (w.ing) {
          this.ingress.delete(w);
          w.ing = null;
        }
        this.watchers.delete(w.id);
        this.unindexOwner(w);
        this.order.remove(w);
        this.removed.push([w.id, change.reason]);
        return;
      }
      case 'joins-set':
        this.replaceJoins(this.watcher(change.id), change.joins, change.at);
        return;
      case 'monitors-set': {
        const w = this.watcher(change.id);
        if (change.monitors === null) {
          if (w.ing) {
            this.ingress.delete(w);
            w.ing = null;
            this.dirty.add(w);
          }
        } else {
          this.setIngressPart(w, change.monitors);
          this.dirty.add(w);
        }
        return;
      }
      case 'mapping-assigned': {
        const key = `${change.source},${change.group}`;
        const c = this.channelMap.get(key);
        if (!c || c.local) throw new Error(`replay: ${key} is not a waiting channel`);
        if (!alreadyClaimed) this.pool.claim(change.local);
        this.table.assign(c, change.local);
        for (const w of c.wanters) this.dirty.add(w);
        this.touchIngress(c);
        return;
      }
      case 'grace-ended':
        this.pool.reclaim(change.local);
        this.needServe = true;
        return;
      default:
        throw new Error(`unknown state change ${JSON.stringify((change as { op?: unknown }).op)}`);
    }
  }

  private replaceJoins(w: WatcherRec, tuples: JoinTuple[] | null, at: number): void {
    if (w.ing) throw new MnatError('wrong-role', `watcher ${w.id} is an ingress watcher`);
    const before = w.joins ? distinctChannels(w.joins) : [];
    if (tuples === null) {
      if (w.joins) this.egressCount--;
      w.joins = null;
    } else {
      if (!w.joins) this.egressCount++;
      const flat: Array<string | ChannelRec> = [];
      for (const [jid, source, group] of tuples) {
        const key = `${source},${group}`;
        let c = this.channelMap.get(key);
        if (!c) {
          c = this.table.open(source, group);
          this.needServe = true;
        }
        c.wanters.add(w);
        flat.push(jid, c);
      }
      w.joins = flat;
    }
    const after = w.joins ? distinctChannels(w.joins) : [];
    if (before.length > 0) {
      const kept = new Set(after);
      for (const c of before) if (!kept.has(c)) this.leave(c, w, at);
    }
    if (before.length !== after.length || before.some((c, i) => after[i] !== c)) this.dirty.add(w);
  }

  private leave(c: ChannelRec, w: WatcherRec, at: number): void {
    c.wanters.delete(w);
    if (c.wanters.size > 0) return;
    this.table.close(c);
    if (c.local) {
      this.pool.release(c.local, at);
      this.touchIngress(c);
    }
  }

  private setIngressPart(w: WatcherRec, tuples: MonitorTuple[]): void {
    if (w.joins) throw new MnatError('wrong-role', `watcher ${w.id} is an egress watcher`);
    w.ing = {
      monitors: tuples.map(([id, p]) => ({ id, globalSourcePrefix: p })),
      prefixes: tuples.map(([, p]) => parsePrefix(p)),
      cache: null,
    };
    this.ingress.add(w);
  }

  private touchIngress(c: ChannelRec): void {
    for (const w of this.ingress) {
      if (w.ing && this.matches(w.ing, c)) {
        w.ing.cache = null;
        this.dirty.add(w);
      }
    }
  }

  private matches(ing: IngressPart, c: ChannelRec): boolean {
    for (const p of ing.prefixes) if (prefixContains(p, c.src)) return true;
    return false;
  }

  // ---- internals: helpers ------------------------------------------------
  private indexOwner(w: WatcherRec): void {
    this.quotas.adjust(w.owner, w.creator, 1);
    if (w.owner === undefined) return;
    let ids = this.byOwner.get(w.owner);
    if (!ids) this.byOwner.set(w.owner, (ids = new Set()));
    ids.add(w.id);
  }

  private unindexOwner(w: WatcherRec): void {
    this.quotas.adjust(w.owner, w.creator, -1);
    if (w.owner === undefined) return;
    const ids = this.byOwner.get(w.owner);
    ids?.delete(w.id);
    if (ids && ids.size === 0) this.byOwner.delete(w.owner);
  }

  private watcher(id: string): WatcherRec {
    const w = typeof id === 'string' ? this.watchers.get(id) : undefined;
    if (!w) throw new MnatError('unknown-watcher', `unknown watcher id; it may have expired (get a new one with get-new-watcher-id)`);
    return w;
  }

  private egressWatcher(id: string): WatcherRec {
    const w = this.watcher(id);
    if (w.ing) throw wrongRoleError('egress');
    return w;
  }

  private ingressWatcher(id: string): WatcherRec {
    const w = this.watcher(id);
    if (w.joins) throw wrongRoleError('ingress');
    return w;
  }

  private joinTuples(w: WatcherRec): JoinTuple[] {
    const out: JoinTuple[] = [];
    const j = w.joins;
    if (j) {
      for (let i = 0; i < j.length; i += 2) {
        const c = j[i + 1] as ChannelRec;
        out.push([j[i] as string, c.channel.source, c.channel.group]);
      }
    }
    return out;
  }

  // A PUT that changes nothing (clients re-PUT after reconnecting) writes no record.
  private commitJoins(w: WatcherRec, tuples: JoinTuple[]): void {
    if (w.joins && sameTuples(this.joinTuples(w), tuples)) return;
    this.commit({ op: 'joins-set', id: w.id, joins: tuples, at: this.now });
  }

  private commitMonitors(w: WatcherRec, tuples: MonitorTuple[]): void {
    if (w.ing && sameTuples(w.ing.monitors.map((m) => [m.id, m.globalSourcePrefix]), tuples)) return;
    this.commit({ op: 'monitors-set', id: w.id, monitors: tuples, at: this.now });
  }
}
