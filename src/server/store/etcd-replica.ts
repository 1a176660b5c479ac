// One front end's replica of the region: the MNAT state machine plus the
// liveness homes, driven only by the entries of the shared log in log order.
// Every front end applies the same entries to its own replica and reaches the
// same state, because everything that could differ between processes comes
// from the log:
// - the pool's randomness is reseeded before every operation from the
//   entry's log revision and the operation's index in it;
// - time is the intents' `at` (chosen by the submitting front end), and the
//   state machine's clock only moves forward (max of what it has seen), so
//   clock skew between front ends cannot move it back;
// - watchers never expire on a replica's own clock (expireIdle: false): the
//   front end that is a watcher's home writes an expiry into the log.
// A snapshot (state + homes + revision + logical time) restores a replica
// that then applies the log from the next revision on.
import { MnatState } from '../state/mnat-state.ts';
import { createSeededRandom, Pool } from '../state/pool.ts';
import { runSteps } from '../state/steps.ts';
import type { QuotaOptions, StateSnapshot } from '../state/state-types.ts';
import { applyIntent } from './apply-intent.ts';
import type { StoreIntent } from './store.ts';

/** What every front end of a region must agree on (kept in etcd; a front end with other settings refuses to start). */
export interface RegionConfig {
  format: 'mnat-region-config/1';
  /** The pool in pool.json form. */
  pool: unknown;
  refreshPeriodS: number;
  gracePeriodS: number;
  maxJoinsPerWatcher: number;
  /**
   * The per-client watcher quotas (watchers per address/certificate, the
   * get-new-watcher-id rate): applied by every replica in log order, so they
   * hold region-wide. Absent in a config stored before quotas existed: none.
   */
  quotas?: QuotaOptions;
}

/** Watchers to remove if their home is still `home` when the entry is applied (a claim in between saves them). */
export interface ExpireBatch {
  home: string;
  ids: string[];
  at: number;
}

/**
 * One log entry, written by front end `from`: its intents (`seq` lets it
 * match the results to its waiting requests), the watchers whose liveness it
 * takes over (claims), and expiries. Applied in that order.
 */
export interface LogEntry {
  from: string;
  seq?: number;
  intents?: StoreIntent[];
  claims?: string[];
  expire?: ExpireBatch[];
}

export interface RegionSnapshot {
  format: 'mnat-region-snapshot/1';
  /** The log revision the snapshot includes (the next entry to apply is after it). */
  revision: number;
  /** The state machine's clock (the largest `at` applied). */
  now: number;
  state: StateSnapshot;
  /** Front end id → the watchers whose liveness it keeps. */
  homes: Record<string, string[]>;
  /** The log key's version at `revision` (absent in snapshots of older front ends): see entry-keys.ts. */
  logVersion?: number;
}

/** The outcome of each intent of an entry: null (applied) or the state machine's refusal. */
export type IntentResults = Array<unknown | null>;

/** A 32-bit seed from a log position (revisions grow past 2^32 in long-lived clusters). */
function seedOf(revision: number, index: number): number {
  const lo = revision >>> 0;
  const hi = Math.floor(revision / 4294967296) >>> 0;
  return (Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

export class RegionReplica {
  readonly state: MnatState;
  /** The last log revision applied. */
  revision: number;
  /** The state machine's clock. */
  now: number;
  private readonly homes = new Map<string, string>();
  private readonly homeCounts = new Map<string, number>();
  /** Interned front end ids: one string object per front end, shared by every watcher. */
  private readonly names = new Map<string, string>();
  private random: () => number = createSeededRandom(0);
  private readonly homeListeners: Array<(id: string, home: string | null) => void> = [];

  constructor(
    readonly config: RegionConfig,
    snapshot?: RegionSnapshot,
  ) {
    const pool = Pool.fromJson(config.pool, { random: () => this.random() });
    const options = {
      pool,
      refreshPeriodS: config.refreshPeriodS,
      gracePeriodS: config.gracePeriodS,
      maxJoinsPerWatcher: config.maxJoinsPerWatcher,
      ...config.quotas,
      expireIdle: false,
    };
    if (snapshot) {
      if (snapshot.format !== 'mnat-region-snapshot/1') throw new Error('not an mnat-region-snapshot/1');
      this.state = MnatState.restore(snapshot.state, options, snapshot.now);
      this.revision = snapshot.revision;
      this.now = snapshot.now;
      for (const [home, ids] of Object.entries(snapshot.homes)) {
        for (const id of ids) if (this.state.hasWatcher(id)) this.setHome(id, home);
      }
    } else {
      this.state = new MnatState(options);
      this.revision = 0;
      this.now = 0;
    }
    this.state.onWatcherRemoved((id) => this.setHome(id, null));
  }

  /** A watcher's home moved (null: the watcher is gone). */
  onHomeChanged(listener: (id: string, home: string | null) => void): void {
    this.homeListeners.push(listener);
  }

  homeOf(id: string): string | undefined {
    return this.homes.get(id);
  }

  /** Front end id → number of watchers it is home for. */
  homeSizes(): ReadonlyMap<string, number> {
    return this.homeCounts;
  }

  /** The watchers whose home is `home` (a scan: used for the rare orphan expiry). */
  watchersHomedAt(home: string): string[] {
    const out: string[] = [];
    for (const [id, h] of this.homes) if (h === home) out.push(id);
    return out;
  }

  /**
   * Applies the entry at `revision` (entries must come in increasing revision
   * order; older ones are ignored). Returns each intent's outcome.
   */
  apply(revision: number, entry: LogEntry): IntentResults {
    if (revision <= this.revision) return [];
    this.revision = revision;
    let index = 0;
    const results: IntentResults = [];
    for (const intent of entry.intents ?? []) {
      this.reseed(revision, index++);
      if (typeof intent.at === 'number' && intent.at > this.now) this.now = intent.at;
      try {
        applyIntent(this.state, intent);
        if (intent.op === 'create-watcher') this.setHome(intent.id, entry.from);
        results.push(null);
      } catch (err) {
        results.push(err);
      }
    }
    for (const id of entry.claims ?? []) {
      if (this.state.hasWatcher(id)) this.setHome(id, entry.from);
    }
    for (const batch of entry.expire ?? []) {
      if (batch.at > this.now) this.now = batch.at;
      for (const id of batch.ids) {
        if (this.homes.get(id) !== batch.home || !this.state.hasWatcher(id)) continue;
        this.reseed(revision, index++);
        this.state.deleteWatcher(id, batch.at);
      }
    }
    return results;
  }

  /**
   * Watchers sorted by id unless `sortWatchers` is false (journal snapshots and
   * comparisons want the same bytes for the same state; sorting 10⁶ holds the
   * event loop seconds, which a region snapshot, read back as written, skips).
   */
  snapshot(sortWatchers = true): RegionSnapshot {
    return runSteps(this.snapshotSteps(Infinity, sortWatchers));
  }

  /** The snapshot in steps of `per` watchers (MnatState.snapshotSteps): nothing may be applied until the last. */
  *snapshotSteps(per: number, sortWatchers = true): Generator<void, RegionSnapshot, void> {
    const { revision, now } = this;
    const homes: Record<string, string[]> = {};
    for (const [id, home] of this.homes) (homes[home] ??= []).push(id);
    const state = yield* this.state.snapshotSteps(per, sortWatchers);
    return { format: 'mnat-region-snapshot/1', revision, now, state, homes };
  }

  private reseed(revision: number, index: number): void {
    this.random = createSeededRandom(seedOf(revision, index));
  }

  private setHome(id: string, home: string | null): void {
    const before = this.homes.get(id);
    if (home !== null) {
      let name = this.names.get(home);
      if (name === undefined) this.names.set(home, (name = home));
      if (before === name) return;
      this.homes.set(id, name);
      this.homeCounts.set(name, (this.homeCounts.get(name) ?? 0) + 1);
    } else {
      if (before === undefined) return;
      this.homes.delete(id);
    }
    if (before !== undefined) {
      const n = (this.homeCounts.get(before) ?? 1) - 1;
      if (n > 0) this.homeCounts.set(before, n);
      else this.homeCounts.delete(before);
    }
    for (const l of this.homeListeners) l(id, home);
  }
}
