// The embedded store (the default): one MnatState in this process, made
// durable by the journal + snapshot in --state-dir (journal.ts), or kept in
// memory only. A change is applied at once and resolves when the journal has
// fdatasync'ed it; concurrent changes share one fsync (group commit).
//
// When the disk fails (full, I/O error) a failed group commit is cut off the
// journal, its requests and every later one not yet durable are refused, and
// the state in memory is rebuilt from the files, so that it is exactly the
// durable state again. The store is then read-only: reads and refreshes are
// served, changes refused (StoreUnavailableError, 503), expiry paused; a
// probe every few seconds finds when the disk takes writes again, and the
// store recovers by itself (every watcher gets a fresh expiry window, as
// after a restart). It also starts read-only on a full disk.
import { serverNow } from '../clock.ts';
import type { Logger } from '../../host/host.ts';
import { channelKey } from '../../core/channel.ts';
import { MnatState } from '../state/mnat-state.ts';
import { MnatError, type ChannelChange, type ChannelRow, type MnatStateOptions, type StateChange, type StateSnapshot, type WatcherRole } from '../state/state-types.ts';
import type { JoinedSg, MappedChannel, Monitor } from '../../protocol/model.ts';
import { applyIntent } from './apply-intent.ts';
import { stateConfigOf, workerFold } from './compaction.ts';
import { readDurableFiles } from './journal-format.ts';
import { Journal, type JournalWriteError } from './journal.ts';
import { StoreDurabilityError, StoreUnavailableError, type IntentArgs, type MnatStore, type StoreIntent, type StoreStats } from './store.ts';

type StateJournal = Journal<StateSnapshot, StateChange>;

interface NotifyBatch {
  ids: Set<string>;
  removed: string[];
  channels: ChannelChange[];
}

/** The state directory holds state the configuration (the pool) cannot take. */
export class StateRestoreError extends Error {
  override name = 'StateRestoreError';
}

export interface OpenOptions {
  state: MnatStateOptions;
  /** The state directory; undefined: memory only. */
  dir: string | undefined;
  log: Logger;
  nowMs: number;
  /** The clock for read-only periods and recovery (default serverNow). */
  now?: () => number;
  /** Compact when the live journal passes this many bytes (default 16 MiB). */
  compactBytes?: number;
  /** The module a compaction worker thread starts from (the bundle passes its own URL). */
  compactionWorker?: URL;
  /** How often a read-only store checks whether the disk takes writes again (default 2 s). */
  probeIntervalMs?: number;
  /** The journal could not be cut back after a failed write: the state on disk is unknown; stop the process. */
  onFatal?: (err: Error) => void;
}

/** Restores a snapshot and replays records; watchers get a fresh expiry window at nowMs. */
function buildState(snapshot: StateSnapshot | null, records: readonly StateChange[], options: MnatStateOptions, nowMs: number): MnatState {
  let state: MnatState;
  try {
    state = snapshot ? MnatState.restore(snapshot, options, nowMs) : new MnatState(options);
    for (const record of records) state.applyChange(record);
  } catch (err) {
    throw new StateRestoreError((err as Error).message);
  }
  state.restartClocks(nowMs);
  return state;
}

/**
 * Loads the snapshot and replays the journal (throws journal.ts's
 * StateCorruptError, or StateRestoreError when the state does not fit the
 * pool). Watchers get a fresh expiry window: nobody could refresh while the
 * server was down.
 */
export function openEmbeddedStore(options: OpenOptions): EmbeddedStore {
  const { dir, log, nowMs } = options;
  if (dir === undefined) return new EmbeddedStore(new MnatState(options.state), null, options);
  const journal: StateJournal = new Journal({
    dir,
    log,
    compactBytes: options.compactBytes,
    fold: workerFold(stateConfigOf(options.state), options.compactionWorker),
  });
  const loaded = journal.load();
  const state = buildState(loaded.snapshot, loaded.records, options.state, nowMs);
  journal.checkWritable();
  const stats = state.stats();
  log.info('state restored', {
    dir,
    generation: loaded.generation,
    records: loaded.records.length,
    watchers: stats.watchers,
    channels: stats.channelsAssigned + stats.channelsUnassigned,
    tornTailAt: loaded.truncatedAt?.offset,
  });
  return new EmbeddedStore(state, journal, options);
}

export class EmbeddedStore implements MnatStore {
  private readonly changedListeners: Array<(ids: readonly string[]) => void> = [];
  private readonly removedListeners: Array<(id: string) => void> = [];
  /** Added to the state's versions: a rebuilt state counts from 1 again, and ETags must not repeat. */
  private versionBase = 0;
  private readOnly: { reason: string; sinceMs: number } | null = null;
  private probeTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly probeIntervalMs: number;
  private readonly channelListeners: Array<(changes: readonly ChannelChange[]) => void> = [];
  /** What this turn's operations changed; told once the journal holds it (see queue()). */
  private batch: NotifyBatch | null = null;

  /** `journal` null: memory only. The state must not have other onChange listeners. */
  constructor(
    private state: MnatState,
    private readonly journal: StateJournal | null,
    private readonly options: Pick<OpenOptions, 'log' | 'dir' | 'state' | 'now' | 'probeIntervalMs' | 'onFatal'>,
  ) {
    this.log = options.log;
    this.now = options.now ?? serverNow;
    this.probeIntervalMs = options.probeIntervalMs ?? 2000;
    this.attach(state);
    if (journal) {
      journal.onFailure = (err) => this.journalFailed(err);
      journal.onFatal = (err) => options.onFatal?.(err);
      if (journal.failure) this.enterReadOnly(journal.failure);
    }
  }

  // ---- reads ---------------------------------------------------------------

  get refreshPeriodS(): number {
    return this.state.refreshPeriodS;
  }
  hasWatcher(id: string): boolean {
    return this.state.hasWatcher(id);
  }
  ownerOf(id: string): string | undefined {
    return this.state.ownerOf(id);
  }
  roleOf(id: string): WatcherRole {
    return this.state.roleOf(id);
  }
  watchersOwnedBy(owner: string): string[] {
    return this.state.watchersOwnedBy(owner);
  }
  egressJoins(id: string): JoinedSg[] {
    return this.state.egressJoins(id);
  }
  ingressMonitors(id: string): Monitor[] {
    return this.state.ingressMonitors(id);
  }
  assignedChannels(id: string): MappedChannel[] {
    return this.state.assignedChannels(id);
  }
  version(id: string): number {
    return this.versionBase + this.state.version(id);
  }
  channels(): ChannelRow[] {
    return this.state.channels();
  }
  stats(): StoreStats {
    const j = this.journal;
    const backend: StoreStats['backend'] = j
      ? {
          kind: 'journal',
          records: j.stats.records,
          fsyncs: j.stats.fsyncs,
          compactions: j.stats.compactions,
          compactionFailures: j.stats.compactionFailures,
          writeFailures: j.stats.writeFailures,
          generation: j.stats.snapshotGeneration,
          journalBytes: j.journalBytes,
        }
      : { kind: 'memory' };
    return { ...this.state.stats(), backend, readOnly: this.readOnly };
  }
  nextDeadlineMs(): number | null {
    return this.readOnly ? null : this.state.nextDeadlineMs();
  }
  /** The whole state (what `mnat-server migrate` moves into a region). */
  snapshot(): StateSnapshot {
    return this.state.snapshot();
  }

  // ---- changes ---------------------------------------------------------------

  createWatcher(change: IntentArgs<'create-watcher'>): Promise<void> {
    return this.change({ op: 'create-watcher', ...change });
  }
  deleteWatcher(change: IntentArgs<'delete-watcher'>): Promise<void> {
    return this.change({ op: 'delete-watcher', ...change });
  }
  setJoins(change: IntentArgs<'set-joins'>): Promise<void> {
    return this.change({ op: 'set-joins', ...change });
  }
  mergeJoins(change: IntentArgs<'merge-joins'>): Promise<void> {
    return this.change({ op: 'merge-joins', ...change });
  }
  deleteJoins(change: IntentArgs<'delete-joins'>): Promise<void> {
    return this.change({ op: 'delete-joins', ...change });
  }
  setMonitors(change: IntentArgs<'set-monitors'>): Promise<void> {
    return this.change({ op: 'set-monitors', ...change });
  }
  mergeMonitors(change: IntentArgs<'merge-monitors'>): Promise<void> {
    return this.change({ op: 'merge-monitors', ...change });
  }
  deleteMonitors(change: IntentArgs<'delete-monitors'>): Promise<void> {
    return this.change({ op: 'delete-monitors', ...change });
  }

  /** Expiry, grace ends, waiting channels (paused while read-only: they would be changes). */
  tick(atMs: number): Promise<void> {
    if (this.readOnly) return Promise.resolve();
    let refused: unknown = null;
    try {
      applyIntent(this.state, { op: 'tick', at: atMs });
    } catch (err) {
      refused = err;
    }
    const durable = this.durable();
    if (refused === null) return durable;
    durable.catch(() => undefined);
    return Promise.reject(refused);
  }

  refreshWatcher(id: string, atMs: number): number {
    if (this.readOnly) {
      // Liveness only; the state machine would also expire others, which is a change.
      if (!this.state.hasWatcher(id)) throw new MnatError('unknown-watcher', 'unknown watcher id; it may have expired (get a new one with get-new-watcher-id)');
      return this.state.refreshPeriodS;
    }
    return this.state.refreshWatcher(id, atMs);
  }

  onWatchersChanged(listener: (ids: readonly string[]) => void): void {
    this.changedListeners.push(listener);
  }

  onWatcherRemoved(listener: (id: string) => void): void {
    this.removedListeners.push(listener);
  }

  /** The state machine tracks channel changes only from the first listener on (no cost without --mqtt). */
  onChannelsChanged(listener: (changes: readonly ChannelChange[]) => void): void {
    if (this.channelListeners.length === 0) this.trackChannels(this.state);
    this.channelListeners.push(listener);
  }

  /** One process, one publisher. */
  isPublisher(): boolean {
    return true;
  }
  onPublisherChanged(): void {
    // never changes
  }

  async close(): Promise<void> {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    await this.journal?.close();
  }

  // ---- internals ---------------------------------------------------------------

  private attach(state: MnatState): void {
    if (this.journal) {
      const journal = this.journal;
      state.onChange((change) => journal.append(change));
    }
    state.onWatchersChanged((ids) => {
      const b = this.queue();
      for (const id of ids) b.ids.add(id); // first-seen order: ingress watchers come first from the state machine
    });
    state.onWatcherRemoved((id) => {
      const b = this.queue();
      b.removed.push(id);
      b.ids.add(id);
    });
    if (this.channelListeners.length > 0) this.trackChannels(state);
  }

  private trackChannels(state: MnatState): void {
    state.onChannelsChanged((changes) => this.queue().channels.push(...changes));
  }

  /** Applies at once (reads see it), resolves once durable; a refusal rejects before anything is written. */
  private change(intent: StoreIntent): Promise<void> {
    if (this.readOnly) return Promise.reject(this.unavailable());
    try {
      applyIntent(this.state, intent);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.durable();
  }

  private unavailable(): StoreUnavailableError {
    const retryAfterS = Math.max(1, Math.ceil(this.probeIntervalMs / 1000));
    return new StoreUnavailableError(
      `the server cannot store changes now (${this.readOnly?.reason}); it serves reads and refreshes, and accepts changes again by itself once the state directory ${this.options.dir} is writable (checked every ${retryAfterS} s)`,
      retryAfterS,
    );
  }

  private durable(): Promise<void> {
    if (!this.journal) return Promise.resolve();
    return this.journal.sync().catch((err: Error) => {
      throw new StoreDurabilityError(`${err.message}; the change was not applied`);
    });
  }

  /** A group commit failed: go back to exactly the durable state, then read-only until the disk recovers. */
  private journalFailed(err: JournalWriteError): void {
    this.enterReadOnly(err);
    const started = this.now();
    const before = this.state;
    let files;
    try {
      files = readDurableFiles<StateSnapshot, StateChange>(this.options.dir as string);
    } catch (readErr) {
      this.log.error('cannot read the state directory back after a failed write', { error: (readErr as Error).message });
      this.options.onFatal?.(readErr as Error);
      return;
    }
    const records = [...(files.closed?.records ?? []), ...(files.live?.records ?? [])];
    const state = buildState(files.snapshot, records, { ...this.options.state, pool: this.options.state.pool.rebuild() }, this.now());
    this.state = state;
    this.versionBase += 2 ** 32;
    this.batch = null; // its sync failed: the rebuilt state replaces what it would have told
    this.attach(state);
    const kept = new Set(state.watcherIds());
    const gone = before.watcherIds().filter((id) => !kept.has(id));
    this.log.warn('state rebuilt from the state directory: the changes that were not durable are undone', { ms: this.now() - started, watchers: kept.size, undoneWatchers: gone.length });
    // Tell push streams and long polls: some watchers are gone, the rest may differ.
    queueMicrotask(() => {
      for (const id of gone) for (const l of this.removedListeners) l(id);
      const ids = [...kept];
      for (const l of this.changedListeners) l(ids);
      const channels = rebuiltChannels(before, state);
      if (channels.length > 0) for (const l of this.channelListeners) l(channels);
    });
  }

  private enterReadOnly(err: JournalWriteError): void {
    if (this.readOnly) return;
    const reason = err.code === 'ENOSPC' || err.code === 'EDQUOT' ? `${err.code}: the disk of the state directory is full` : `${err.code}: ${err.message}`;
    this.readOnly = { reason, sinceMs: this.now() };
    this.log.error('read-only: changes are refused (503) until the state directory takes writes again', { reason, dir: this.options.dir });
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.probeTimer || !this.journal) return;
    const journal = this.journal;
    this.probeTimer = setTimeout(() => {
      journal.probe().then(
        () => {
          this.probeTimer = null;
          try {
            journal.recover();
          } catch (err) {
            this.log.warn('the state directory is still not writable', { error: (err as Error).message });
            this.scheduleProbe();
            return;
          }
          const since = this.readOnly?.sinceMs ?? this.now();
          this.readOnly = null;
          // Nobody's expiry ran while read-only: every watcher gets a fresh window, as after a restart.
          this.state.restartClocks(this.now());
          this.log.info('writable again: changes are accepted', { readOnlyS: Math.round((this.now() - since) / 1000) });
        },
        () => {
          this.probeTimer = null;
          this.scheduleProbe();
        },
      );
    }, this.probeIntervalMs);
    this.probeTimer.unref();
  }

  /**
   * Tell listeners only after the journal holds the change: a client is never
   * told what a crash could undo. Changes made in one turn share a batch; it is
   * sealed at the end of the turn and waits for a sync() asked for then, which
   * covers every record appended so far and none of a later turn's.
   */
  private queue(): NotifyBatch {
    if (this.batch) return this.batch;
    const b: NotifyBatch = { ids: new Set(), removed: [], channels: [] };
    this.batch = b;
    queueMicrotask(() => {
      this.batch = null;
      const durable = this.journal ? this.journal.sync() : Promise.resolve();
      // On failure the state is rebuilt (journalFailed), which tells the listeners.
      durable.then(
        () => this.tell(b),
        () => undefined,
      );
    });
    return b;
  }

  private tell(b: NotifyBatch): void {
    for (const id of b.removed) for (const l of this.removedListeners) l(id);
    if (b.ids.size > 0) {
      const ids = Array.from(b.ids);
      for (const l of this.changedListeners) l(ids);
    }
    if (b.channels.length > 0) for (const l of this.channelListeners) l(b.channels);
  }
}

/** After a rebuild: every channel as it now stands, and a release for each one the undone changes had made. */
function rebuiltChannels(before: MnatState, after: MnatState): ChannelChange[] {
  const now = new Map(after.channels().map((row) => [channelKey(row.global), row]));
  const changes: ChannelChange[] = [...now.values()].map(({ egressWatchers: _, ...mapping }) => ({ channel: mapping.global, mapping }));
  for (const row of before.channels()) if (!now.has(channelKey(row.global))) changes.push({ channel: row.global, mapping: null });
  return changes;
}
