// The region store: any number of mnat-server front ends over one etcd
// cluster (docs/region.md). State-machine replication: every change is an
// intent appended to one log (the history of one etcd key, so etcd's
// revision order is the total order); every front end watches that key (one
// watch per front end) and applies the entries to its own replica
// (etcd-replica.ts), so reads stay local and synchronous, and push and long
// polls on every front end follow from the local applies. A change resolves
// once this front end has applied it, with the state machine's answer, which
// is the same on every replica.
//
// Liveness costs no consensus write per refresh: each front end keeps the
// refresh clock of the watchers it is home for (etcd-liveness.ts) and writes
// one expiry entry for those that fell silent; a refresh at another front end
// claims the watcher (batched). Front ends register under a lease; the live
// one registered first is the region leader and writes what nobody asks for:
// ticks at the state's next deadline (grace ends, waiting channels), expiry of
// the watchers of a front end that died (unless claimed within the expiry
// window), and snapshots (etcd-snapshot.ts) followed by a compaction.
//
// Without a quorum the front end keeps answering reads from its replica and
// refuses changes with StoreUnavailableError; a probe notices the quorum's
// return and changes are taken again, with no restart.
import { serverNow } from '../clock.ts';
import type { Logger } from '../../host/host.ts';
import type { JoinedSg, MappedChannel, Monitor } from '../../protocol/model.ts';
import { MnatError, type ChannelChange, type ChannelRow, type WatcherRole } from '../state/state-types.ts';
import { runStepsPaused } from '../state/steps.ts';
import { validateJoins, validateMonitors } from '../state/validate.ts';
import { ApplyGate } from './apply-gate.ts';
import { EtcdClient, untilReachable, type EtcdTls, type KeyValue, type Watch, type WatchEvent } from './etcd-client.ts';
import type { EtcdAuth } from './etcd-auth.ts';
import { LogWriter, MAX_IDS_PER_ENTRY, UNAVAILABLE_MESSAGE } from './etcd-log-writer.ts';
import { RegionMembers } from './etcd-members.ts';
import { LivenessTable } from './etcd-liveness.ts';
import { RegionReplica, type RegionConfig, type RegionSnapshot } from './etcd-replica.ts';
import { catchUpReplica, readLogEntry } from './replica-catch-up.ts';
import { channelDifferences, watcherDifferences } from './replica-diff.ts';
import { readHead, readSnapshot, yieldToEvents } from './etcd-snapshot.ts';
import { SnapshotDuty } from './snapshot-duty.ts';
import { readKeptEntries, snapshotLogVersion, type KnownLogVersion, type LogPut } from './entry-keys.ts';
import { ensureRegionConfig } from './etcd-region.ts';
import { StoreUnavailableError, type IntentArgs, type MnatStore, type RegionBackendStats, type StoreIntent, type StoreStats } from './store.ts';

export interface EtcdStoreOptions {
  /** host:port of the etcd members. */
  endpoints: string[];
  /** Key prefix of this region, ending in "/" (e.g. "/mnat/default/"). */
  prefix: string;
  tls?: EtcdTls;
  /** etcd's user/password authentication (--etcd-user). */
  auth?: EtcdAuth;
  frontendId: string;
  config: RegionConfig;
  log: Logger;
  now?: () => number;
  /** Lease of the front end's registration (default 10 s): a dead front end is noticed this long after its death. */
  leaseTtlS?: number;
  /** Log bytes after which the leader writes a snapshot (default 64 MiB). */
  snapshotEveryBytes?: number;
  /** Watchers per step of a snapshot being built (default 10 000): the event loop turns between steps. */
  snapshotStepWatchers?: number;
  /** How long refreshes of watchers homed elsewhere are collected before one claim entry (default 100 ms). */
  claimDelayMs?: number;
  /** etcd request deadline (default 4 000 ms; a log write is sent again half way). */
  requestTimeoutMs?: number;
  /** Give up starting when etcd cannot be reached for this long (default 30 s). */
  startTimeoutMs?: number;
}

export async function openEtcdStore(options: EtcdStoreOptions): Promise<EtcdStore> {
  const store = new EtcdStore(options);
  try {
    await store.start();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

export class EtcdStore implements MnatStore {
  readonly frontendId: string;
  private readonly client: EtcdClient;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly config: RegionConfig;
  private readonly logKey: string;
  private readonly claimDelayMs: number;
  private readonly startTimeoutMs: number;
  private readonly snapshotStepWatchers: number;
  private replica!: RegionReplica;
  private readonly liveness: LivenessTable;
  private versionBase = 0;

  private readonly changedListeners: Array<(ids: readonly string[]) => void> = [];
  private readonly removedListeners: Array<(id: string) => void> = [];
  private readonly channelListeners: Array<(changes: readonly ChannelChange[]) => void> = [];
  private readonly publisherListeners: Array<(publisher: boolean) => void> = [];
  private publisher = false;

  private readonly writer: LogWriter;
  private readonly members: RegionMembers;
  /** Refreshes of watchers homed elsewhere, until the claim is applied: id → last refresh. */
  private readonly claiming = new Map<string, number>();
  private expiryInFlight = false;
  private tickPending = false;
  private claimTimer: NodeJS.Timeout | null = null;

  // region
  private available = true;
  private readonly orphanSince = new Map<string, number>();
  private readonly orphanInFlight = new Set<string>();
  private readonly snapshots: SnapshotDuty;
  private entriesApplied = 0;

  private logWatch: Watch | null = null;
  /**
   * The log entry applied last, as etcd gave it (null after loading a
   * snapshot, until the next one). The log watch starts again from it, and
   * etcd must hand back the same bytes at that revision: else its history is
   * not the one applied here (reloadAfterRewind).
   */
  private lastEntry: LogPut | null = null;
  /** The log watch (re)started from lastEntry: its first event must be that entry. */
  private overlapPending = false;
  /** Holds the log's entries while the leader builds a snapshot in steps. */
  private readonly applying = new ApplyGate();
  /** The log key's version in the snapshot loaded last; lastEntry's once one is applied (entry-keys.ts). */
  private loadedLogVersion: KnownLogVersion = 0;
  private reloading = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;
  private lagSince: number | null = null;
  private probing = false;
  private probeFailures = 0;
  private caughtUp: { target: number; resolve: () => void } | null = null;

  constructor(options: EtcdStoreOptions) {
    this.frontendId = options.frontendId;
    this.prefix = options.prefix;
    this.log = options.log;
    this.now = options.now ?? serverNow;
    this.config = options.config;
    this.logKey = `${options.prefix}log`;
    this.claimDelayMs = options.claimDelayMs ?? 100;
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.snapshotStepWatchers = options.snapshotStepWatchers ?? 10_000;
    this.client = new EtcdClient({ endpoints: options.endpoints, ...(options.tls ? { tls: options.tls } : {}), ...(options.auth ? { auth: options.auth } : {}), keyPrefix: options.prefix, timeoutMs: options.requestTimeoutMs ?? 4000 });
    this.liveness = new LivenessTable(3 * this.config.refreshPeriodS * 1000);
    this.writer = new LogWriter(this.client, options.prefix, this.logKey, this.frontendId, { available: (ok, why) => this.setAvailable(ok, why), stillClaiming: (id) => this.claiming.has(id) }, this.log);
    this.members = new RegionMembers(this.client, options.prefix, this.frontendId, options.leaseTtlS ?? 10, this.log, this.now);
    this.members.onChange = () => this.updatePublisher();
    const { client, prefix, logKey, log, now } = this;
    this.snapshots = new SnapshotDuty({ client, prefix, logKey, log, now, everyBytes: options.snapshotEveryBytes ?? 64 * 1024 * 1024, countWrites: (n) => this.writer.count('snapshot', n) });
  }

  /** Config check, snapshot + log catch-up, registration, then the background jobs. */
  async start(): Promise<void> {
    const endpoints = this.client.endpoints.join(',');
    const reach = { timeoutMs: this.startTimeoutMs, now: this.now, stopped: () => this.closed, onFirstWait: (err: Error) => this.log.warn('waiting for etcd', { endpoints, error: err.message }) };
    await untilReachable(() => ensureRegionConfig(this.client, this.prefix, this.config), reach);
    const { head, modRevision } = await untilReachable(() => readHead(this.client, this.prefix), reach);
    this.snapshots.revision = head?.revision ?? 0;
    const snapshot = head ? await readSnapshot(this.client, this.prefix, head) : undefined;
    this.install(new RegionReplica(this.config, snapshot));
    this.loadedLogVersion = snapshotLogVersion(snapshot);
    const logHead = await this.client.get(this.logKey);
    const target = logHead?.modRevision ?? 0;
    this.log.info('region state loaded', { frontend: this.frontendId, snapshotRevision: this.snapshots.revision, snapshotHeadMod: modRevision, logRevision: target, watchers: this.replica.state.stats().watchers });
    await new Promise<void>((resolve) => {
      this.caughtUp = { target, resolve };
      this.watchLog();
      this.checkCaughtUp();
    });
    this.liveness.restartAll(this.now());
    await this.members.join();
    this.every(this.members.keepAliveEveryMs, () => void this.members.keepAlive());
    // Every second, every 250 ms while etcd is away (so changes are taken again soon after it returns).
    let probes = 0;
    this.every(250, () => {
      if (this.available && ++probes % 4 !== 0) return;
      void this.probe();
    });
    this.every(5000, () => void this.members.pollCluster());
    void this.members.pollCluster();
    this.log.info('front end joined the region', { frontend: this.frontendId, leader: this.members.leader() ?? 'none', frontends: this.members.live.size, revision: this.replica.revision });
  }

  // ---- reads (the local replica) -------------------------------------------

  get refreshPeriodS(): number {
    return this.config.refreshPeriodS;
  }
  hasWatcher(id: string): boolean {
    return this.replica.state.hasWatcher(id);
  }
  ownerOf(id: string): string | undefined {
    return this.replica.state.ownerOf(id);
  }
  roleOf(id: string): WatcherRole {
    return this.replica.state.roleOf(id);
  }
  watchersOwnedBy(owner: string): string[] {
    return this.replica.state.watchersOwnedBy(owner);
  }
  egressJoins(id: string): JoinedSg[] {
    return this.replica.state.egressJoins(id);
  }
  ingressMonitors(id: string): Monitor[] {
    return this.replica.state.ingressMonitors(id);
  }
  assignedChannels(id: string): MappedChannel[] {
    return this.replica.state.assignedChannels(id);
  }
  version(id: string): number {
    return this.versionBase + this.replica.state.version(id);
  }
  channels(): ChannelRow[] {
    return this.replica.state.channels();
  }
  stats(): StoreStats {
    return { ...this.replica.state.stats(), backend: { kind: 'etcd', ...this.regionStats() } };
  }

  regionStats(): RegionBackendStats {
    return {
      frontendId: this.frontendId,
      frontends: this.members.live.size,
      regionLeader: this.members.leader(),
      available: this.available,
      members: this.members.cluster,
      appliedRevision: this.replica.revision,
      homedWatchers: this.liveness.size,
      writes: { ...this.writer.writes, lease: this.members.writes },
      logWrites: { ...this.writer.logWrites },
      entriesApplied: this.entriesApplied,
      snapshotRevision: this.snapshots.revision,
      clientCertificate: this.client.clientCertificate,
    };
  }

  reloadCredentials(): { subject: string; validTo: string } | null {
    return this.client.reloadCredentials();
  }

  // ---- changes (through the log) -------------------------------------------

  /**
   * The quotas are decided when the entry is applied (in log order, so they
   * hold region-wide); asking the replica first keeps a client past its quota
   * from costing the region a log write per refused request.
   */
  createWatcher(change: IntentArgs<'create-watcher'>): Promise<void> {
    try {
      if (this.hasWatcher(change.id)) throw new MnatError('id-in-use', 'this watcher id is in use already');
      this.replica.state.checkQuota(change.owner, change.creator, change.at);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.submit({ op: 'create-watcher', ...change });
  }
  deleteWatcher(change: IntentArgs<'delete-watcher'>): Promise<void> {
    return this.submitFor(change.id, { op: 'delete-watcher', ...change });
  }
  setJoins(change: IntentArgs<'set-joins'>): Promise<void> {
    return this.submitFor(change.id, { op: 'set-joins', ...change }, () => validateJoins(change.joins, this.config.maxJoinsPerWatcher, () => undefined));
  }
  mergeJoins(change: IntentArgs<'merge-joins'>): Promise<void> {
    return this.submitFor(change.id, { op: 'merge-joins', ...change }, () => validateJoins(change.joins, this.config.maxJoinsPerWatcher, () => undefined));
  }
  deleteJoins(change: IntentArgs<'delete-joins'>): Promise<void> {
    return this.submitFor(change.id, { op: 'delete-joins', ...change });
  }
  setMonitors(change: IntentArgs<'set-monitors'>): Promise<void> {
    return this.submitFor(change.id, { op: 'set-monitors', ...change }, () => validateMonitors(change.monitors, this.config.maxJoinsPerWatcher));
  }
  mergeMonitors(change: IntentArgs<'merge-monitors'>): Promise<void> {
    return this.submitFor(change.id, { op: 'merge-monitors', ...change }, () => validateMonitors(change.monitors, this.config.maxJoinsPerWatcher));
  }
  deleteMonitors(change: IntentArgs<'delete-monitors'>): Promise<void> {
    return this.submitFor(change.id, { op: 'delete-monitors', ...change });
  }

  /**
   * Called by the ticker (at least once a second): this front end expires its
   * silent watchers; the leader writes a tick when the state has a deadline
   * due, and expires the watchers of dead front ends. Never waits for etcd.
   */
  tick(atMs: number): Promise<void> {
    if (this.closed || !this.replica) return Promise.resolve();
    this.expireSilent(atMs);
    if (this.members.isLeader()) {
      const due = this.replica.state.nextDeadlineMs();
      if (due !== null && due <= atMs && !this.tickPending && this.available) {
        this.tickPending = true;
        const done = (): void => {
          this.tickPending = false;
        };
        this.writer.add(JSON.stringify({ op: 'tick', at: atMs }), { resolve: done, reject: done }, 'ticks');
      }
      this.expireOrphans(atMs);
    }
    return Promise.resolve();
  }

  /** Nothing is due while the write for it is on its way or etcd is away (the ticker then looks once a second). */
  nextDeadlineMs(): number | null {
    if (!this.available) return null;
    const own = this.expiryInFlight ? null : this.liveness.nextDeadlineMs();
    const state = this.members.isLeader() && !this.tickPending ? this.replica.state.nextDeadlineMs() : null;
    if (own === null) return state;
    return state === null ? own : Math.min(own, state);
  }

  /** Local and O(1) for a watcher homed here; a watcher homed elsewhere is claimed (one batched write). */
  refreshWatcher(id: string, atMs: number): number {
    if (!this.replica.state.hasWatcher(id)) throw new MnatError('unknown-watcher', 'unknown watcher id; it may have expired (get a new one with get-new-watcher-id)');
    if (!this.liveness.refresh(id, atMs)) {
      if (!this.claiming.has(id)) this.writer.claim(id);
      this.claiming.set(id, atMs);
      this.claimTimer ??= setTimeout(() => {
        this.claimTimer = null;
        this.writer.flushSoon();
      }, this.claimDelayMs);
    }
    return this.config.refreshPeriodS;
  }

  onWatchersChanged(listener: (ids: readonly string[]) => void): void {
    this.changedListeners.push(listener);
  }
  onWatcherRemoved(listener: (id: string) => void): void {
    this.removedListeners.push(listener);
  }
  /** Replicas apply only committed entries: their channel changes are durable when they happen. */
  onChannelsChanged(listener: (changes: readonly ChannelChange[]) => void): void {
    // The replica tracks channel changes only once someone listens (--mqtt).
    if (this.channelListeners.push(listener) === 1 && this.replica) this.followChannels(this.replica);
  }
  /** The region leader while etcd answers: a leader cut off from the quorum steps down before its lease ends and another leads. */
  isPublisher(): boolean {
    return this.publisher;
  }
  onPublisherChanged(listener: (publisher: boolean) => void): void {
    this.publisherListeners.push(listener);
  }

  /** Leaves the region: the lease is revoked, so the leader sees this front end gone at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.claimTimer) clearTimeout(this.claimTimer);
    this.logWatch?.close();
    this.writer.close(new StoreUnavailableError('this front end is shutting down'));
    // A region stopped as a whole (the leader stops last) then starts from it even if etcd compacts meanwhile.
    // The lease is kept alive meanwhile: a large snapshot takes longer than the lease.
    if (this.members.isLeader() && this.available) await this.snapshots.beforeLeaving(this.replica.revision, () => this.snapshotNow());
    for (const t of this.timers) clearInterval(t);
    await this.members.close();
    this.client.close();
  }

  // ---- submission ----------------------------------------------------------

  /** Refuses at once what the state machine would refuse for a missing watcher or a malformed list, without a write. */
  private submitFor(id: string, intent: StoreIntent, validate?: () => unknown): Promise<void> {
    try {
      this.replica.state.roleOf(id); // MnatError('unknown-watcher') when absent
      validate?.();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.submit(intent);
  }

  private submit(intent: StoreIntent): Promise<void> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('this front end is shutting down'));
    if (!this.available) return Promise.reject(new StoreUnavailableError(UNAVAILABLE_MESSAGE));
    return new Promise((resolve, reject) => this.writer.add(JSON.stringify(intent), { resolve, reject }));
  }

  /** Writes one expiry entry for this front end's silent watchers (one at a time; a failed one is sent again). */
  private expireSilent(atMs: number): void {
    if (this.expiryInFlight || !this.available) return;
    this.liveness.takeDue(atMs, MAX_IDS_PER_ENTRY);
    const ids = this.liveness.pendingExpiries(MAX_IDS_PER_ENTRY);
    if (ids.length === 0) return;
    this.expiryInFlight = true;
    this.writer.expire(
      { home: this.frontendId, ids, at: atMs },
      () => {
        this.expiryInFlight = false;
        // Applied: what is still there was claimed by another front end first (its untrack may not have come).
        for (const id of ids) if (this.replica.homeOf(id) !== this.frontendId) this.liveness.untrack(id);
      },
      () => (this.expiryInFlight = false), // not written: sent again on the next tick
    );
  }

  /** Leader: the watchers of a front end gone for a whole expiry window, unless claimed meanwhile. */
  private expireOrphans(atMs: number): void {
    const now = this.now();
    for (const home of [...this.orphanSince.keys()]) {
      if (this.members.live.has(home) || !this.replica.homeSizes().has(home)) this.orphanSince.delete(home);
    }
    for (const home of this.replica.homeSizes().keys()) {
      if (home === this.frontendId || this.members.live.has(home)) continue;
      const since = this.orphanSince.get(home);
      if (since === undefined) {
        this.orphanSince.set(home, now);
        this.log.info('front end gone; its watchers expire unless their clients refresh elsewhere', { frontend: home, watchers: this.replica.homeSizes().get(home), withinS: this.liveness.expiryMs / 1000 });
        continue;
      }
      if (now - since < this.liveness.expiryMs || this.orphanInFlight.has(home) || !this.available) continue;
      const ids = this.replica.watchersHomedAt(home);
      this.orphanInFlight.add(home);
      this.log.info('expiring watchers of a gone front end not refreshed elsewhere', { frontend: home, watchers: ids.length });
      let left = Math.ceil(ids.length / MAX_IDS_PER_ENTRY);
      const done = (): void => {
        if (--left === 0) this.orphanInFlight.delete(home);
      };
      for (let i = 0; i < ids.length; i += MAX_IDS_PER_ENTRY) this.writer.expire({ home, ids: ids.slice(i, i + MAX_IDS_PER_ENTRY), at: atMs }, done, done);
    }
  }

  // ---- applying the log ------------------------------------------------------

  /** Follows the log from the entry applied last, or from `from` (after entries read from their keys: followAfterCompaction). */
  private watchLog(from?: number): void {
    this.logWatch?.close();
    // The watch restarts by itself from the last entry it gave: then etcd must hand that entry back.
    let fromLastEntry = from === undefined;
    const watch = this.client.watch(this.logKey, { startRevision: from ?? this.lastEntry?.revision ?? this.replica.revision + 1, overlap: true }, {
      onCreated: () => (this.overlapPending = fromLastEntry && this.lastEntry !== null),
      onEvents: (events) => {
        if (events.length > 0) fromLastEntry = true;
        // One by one, so a large batch is applied in slices (ApplyGate); a watch replaced meanwhile restarts from the last entry applied.
        for (const e of events) this.applying.run(() => this.logWatch === watch && this.applyEvents([e]));
      },
      onCompacted: (rev) => void this.followAfterCompaction(rev),
      onInterrupted: (err) => this.log.warn('log watch interrupted; resuming from the last applied entry', { error: err.message, revision: this.replica.revision }),
      onResumed: () => this.log.info('log watch resumed', { revision: this.replica.revision, endpoint: this.client.endpoint }),
    });
    this.logWatch = watch;
  }

  private applyEvents(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type !== 'put') continue;
      if (this.overlapPending && this.lastEntry) {
        this.overlapPending = false;
        const last = this.lastEntry;
        if (e.kv.modRevision !== last.revision || !e.kv.value.equals(last.value)) {
          this.reloadAfterRewind(last.revision, null);
          return;
        }
        continue; // applied already
      }
      this.applyEntry(e.kv);
    }
    this.lagSince = null;
    this.checkCaughtUp();
    if (this.members.isLeader()) this.snapshots.maybeWrite(() => this.snapshotNow());
  }

  private applyEntry(kv: KeyValue): void {
    const revision = kv.modRevision;
    if (revision <= this.replica.revision) return;
    this.lastEntry = { revision, value: kv.value, version: kv.version };
    const entry = readLogEntry(kv, this.log);
    const results = this.replica.apply(revision, entry);
    this.entriesApplied++;
    this.snapshots.applied(kv.value.length);
    if (entry.from === this.frontendId && entry.seq !== undefined) this.writer.settle(entry.seq, results);
  }

  private checkCaughtUp(): void {
    if (this.caughtUp && this.replica.revision >= this.caughtUp.target) {
      const { resolve } = this.caughtUp;
      this.caughtUp = null;
      resolve();
    }
  }

  /** Uses a replica: its events reach the listeners, its homes drive this front end's liveness. */
  private install(replica: RegionReplica): void {
    replica.state.onWatchersChanged((ids) => {
      for (const l of this.changedListeners) l(ids);
    });
    replica.state.onWatcherRemoved((id) => {
      for (const l of this.removedListeners) l(id);
    });
    if (this.channelListeners.length > 0) this.followChannels(replica);
    replica.onHomeChanged((id, home) => {
      if (home === this.frontendId) {
        this.liveness.track(id, this.claiming.get(id) ?? this.now());
        this.claiming.delete(id);
        this.writer.unclaim(id);
      } else {
        this.liveness.untrack(id);
        if (home === null) {
          this.claiming.delete(id);
          this.writer.unclaim(id);
        }
      }
    });
    const now = this.now();
    this.liveness.retain((id) => replica.homeOf(id) === this.frontendId);
    for (const id of replica.watchersHomedAt(this.frontendId)) if (!this.liveness.has(id)) this.liveness.track(id, now);
    this.replica = replica;
    this.lastEntry = null;
  }

  private followChannels(replica: RegionReplica): void {
    replica.state.onChannelsChanged((changes) => {
      for (const l of this.channelListeners) l(changes);
    });
  }

  /** Exactly one front end publishes to shared fan-out (MQTT): the region leader, while it reaches a quorum. */
  private updatePublisher(): void {
    const publisher = this.available && !this.closed && this.members.isLeader();
    if (publisher === this.publisher) return;
    this.publisher = publisher;
    for (const l of this.publisherListeners) l(publisher);
  }

  /**
   * etcd's history was compacted past the entry applied last (by another
   * region on this etcd, or its operator): apply the entries since from their
   * keys (entry-keys.ts) and follow the log from there; else load a snapshot.
   */
  private async followAfterCompaction(compactRevision: number): Promise<void> {
    if (this.reloading || this.closed) return;
    const kept = await readKeptEntries(this.client, this.prefix, this.logKey, this.replica.revision, this.lastEntry?.version ?? this.loadedLogVersion).catch(() => null);
    if (this.reloading || this.closed) return;
    if (kept?.outcome === 'rewound') return this.reloadAfterRewind(this.replica.revision, null);
    if (kept?.outcome !== 'all') return this.reloadAfterCompaction(compactRevision);
    this.log.info("etcd's history was compacted past this front end's last entry (by another region on this etcd, or its operator); applying the entries since from their keys", { applied: this.replica.revision, compactRevision, entries: kept.entries.length });
    this.applying.run(() => {
      if (this.reloading || this.closed) return;
      this.overlapPending = false;
      this.applyEvents(kept.entries.map((e) => ({ type: 'put', kv: { key: this.logKey, value: e.value, createRevision: 0, modRevision: e.revision, version: e.version, lease: '0' } })));
      this.watchLog(kept.revision + 1);
    });
  }

  /** The log was compacted past what this front end applied: start again from the newest snapshot (and the entries' keys after it). */
  private reloadAfterCompaction(compactRevision: number): Promise<void> {
    this.log.warn('the log was compacted past this front end; reloading from the snapshot', { applied: this.replica.revision, compactRevision });
    return this.reload();
  }

  /**
   * etcd no longer holds the log entry applied here last: its data was
   * restored from an older backup (or the cluster replaced). What came after
   * the backup is gone from etcd and new entries reuse its revisions, so
   * applying them here would build a state no other front end has. Load the
   * region again from etcd's snapshot and log, as a new front end would.
   */
  private reloadAfterRewind(applied: number, etcdRevision: number | null): void {
    if (this.reloading || this.closed) return;
    this.log.error("etcd's history went back: it no longer holds the log entries applied here (restored from an older backup, or a new cluster?); loading the region again from etcd; changes made after that backup are gone", {
      frontend: this.frontendId,
      applied,
      ...(etcdRevision === null ? {} : { etcdRevision }),
    });
    void this.reload(async () => {
      await ensureRegionConfig(this.client, this.prefix, this.config);
      await this.members.relist();
    });
  }

  /** Replaces the replica with etcd's newest snapshot caught up with the log, then follows the log; after `prepare` (throws: retried). */
  private async reload(prepare?: () => Promise<unknown>): Promise<void> {
    if (this.reloading || this.closed) return;
    this.reloading = true;
    this.logWatch?.close();
    this.logWatch = null;
    try {
      for (;;) {
        try {
          await prepare?.();
          const { head } = await readHead(this.client, this.prefix);
          const logRevision = (await this.client.get(this.logKey))?.modRevision ?? 0;
          const snapshot = head ? await readSnapshot(this.client, this.prefix, head) : undefined;
          const next = new RegionReplica(this.config, snapshot);
          const { last, own, applied } = await catchUpReplica({ client: this.client, prefix: this.prefix, logKey: this.logKey, frontendId: this.frontendId, log: this.log }, next, logRevision, snapshotLogVersion(snapshot));
          this.entriesApplied += applied;
          if (this.closed) return;
          const old = this.replica;
          let maxVersion = 0;
          for (const id of old.state.watcherIds()) maxVersion = Math.max(maxVersion, old.state.version(id));
          this.versionBase += maxVersion + 1;
          this.install(next);
          this.lastEntry = last;
          this.loadedLogVersion = snapshotLogVersion(snapshot);
          this.snapshots.revision = head?.revision ?? 0;
          this.notifyDifferences(old, next);
          for (const [seq, results] of own) this.writer.settle(seq, results);
          this.watchLog();
          this.checkCaughtUp(); // a front end still starting waits for this
          this.log.info('region loaded again from etcd', { frontend: this.frontendId, snapshotRevision: this.snapshots.revision, revision: next.revision, watchers: next.state.stats().watchers });
          return;
        } catch (err) {
          this.log.error('reload from snapshot failed; retrying', { error: (err as Error).message });
          await new Promise((r) => setTimeout(r, 2000));
          if (this.closed) return;
        }
      }
    } finally {
      this.reloading = false;
    }
  }

  private notifyDifferences(old: RegionReplica, next: RegionReplica): void {
    const { removed, changed } = watcherDifferences(old.state, next.state);
    for (const id of removed) {
      this.liveness.untrack(id);
      for (const l of this.removedListeners) l(id);
    }
    if (changed.length > 0) for (const l of this.changedListeners) l(changed);
    if (this.channelListeners.length === 0) return;
    const changes = channelDifferences(old.state, next.state);
    if (changes.length > 0) for (const l of this.channelListeners) l(changes);
  }

  // ---- the region: snapshots, health ------------------------------------------

  /** A quorum read of the log's head: tells availability, and whether the watch fell behind. */
  private async probe(): Promise<void> {
    if (this.closed || this.probing) return;
    this.probing = true;
    try {
      // What was applied before asking: entries the watch brings while the read is under way may be newer than its answer.
      const { replica } = this;
      const applied = replica.revision;
      const res = await this.client.range(this.logKey, { keysOnly: true });
      this.setAvailable(true);
      // etcd behind what was applied here: its history went back (an idle log; the watch tells otherwise).
      if (res.revision < applied && this.replica === replica) {
        this.reloadAfterRewind(applied, res.revision);
        return;
      }
      if (this.members.isLeader()) void this.snapshots.checkHistory(this.replica.revision, () => this.snapshotNow());
      const head = res.kvs[0]?.modRevision ?? 0;
      // Behind while a snapshot holds the log, or while entries wait for their slice, is expected (ApplyGate).
      if (head > this.replica.revision && !this.applying.holding && this.applying.waiting === 0) {
        const now = this.now();
        this.lagSince ??= now;
        if (now - this.lagSince > 5000) {
          this.log.warn('log watch is behind the log; restarting it', { applied: this.replica.revision, head });
          this.lagSince = null;
          this.watchLog();
        }
      } else {
        this.lagSince = null;
      }
      this.probeFailures = 0;
    } catch (err) {
      // Twice in a row: one slow answer (this process busy for a moment) is not an outage; a failed write still is.
      if (++this.probeFailures >= 2) this.setAvailable(false, (err as Error).message);
    } finally {
      this.probing = false;
    }
  }

  private setAvailable(available: boolean, why?: string): void {
    if (available === this.available) return;
    this.available = available;
    if (available) this.log.info('etcd reachable with a quorum again; taking changes', { frontend: this.frontendId });
    else this.log.warn('etcd unavailable; refusing changes, serving reads from the local copy', { frontend: this.frontendId, error: why });
    this.updatePublisher();
  }

  /**
   * The replica as of now with the log key's version there (entry-keys.ts),
   * built in steps with the log held meanwhile (ApplyGate); watchers as held
   * (sorting 10⁶ would hold the event loop for seconds).
   */
  private async snapshotNow(): Promise<RegionSnapshot> {
    const started = this.now();
    const { value, waited } = await this.applying.hold(async () => {
      const logVersion = this.lastEntry?.version ?? this.loadedLogVersion;
      const snapshot = await runStepsPaused(this.replica.snapshotSteps(this.snapshotStepWatchers, false), yieldToEvents);
      return { ...snapshot, ...(logVersion === null ? {} : { logVersion }) };
    });
    this.log.debug('snapshot built', { revision: value.revision, ms: this.now() - started, entriesWaiting: waited });
    return value;
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}

