// The embedded store (the default): one MnatState in this process, made
// durable by the journal + snapshot in --state-dir (journal.ts), or kept in
// memory only. A change is applied at once and resolves when the journal has
// fdatasync'ed it; concurrent changes share one fsync (group commit).
import type { Logger } from '../../host/host.ts';
import { MnatState } from '../state/mnat-state.ts';
import type { ChannelChange, ChannelRow, MnatStateOptions, StateChange, StateSnapshot, WatcherRole } from '../state/state-types.ts';
import type { JoinedSg, MappedChannel, Monitor } from '../../protocol/model.ts';
import { applyIntent } from './apply-intent.ts';
import { Journal } from './journal.ts';
import { StoreDurabilityError, type IntentArgs, type MnatStore, type StoreIntent, type StoreStats } from './store.ts';

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
  /** Called once when the journal cannot be written: memory now holds changes the disk does not. */
  onJournalFailure?: (err: Error) => void;
}

/**
 * Loads the snapshot and replays the journal (throws journal.ts's
 * StateCorruptError, or StateRestoreError when the state does not fit the
 * pool). Watchers get a fresh expiry window: nobody could refresh while the
 * server was down.
 */
export function openEmbeddedStore(options: OpenOptions): EmbeddedStore {
  const { dir, log, nowMs } = options;
  if (dir === undefined) return new EmbeddedStore(new MnatState(options.state), null, log);
  const journal: StateJournal = new Journal({ dir, log });
  const loaded = journal.load();
  let state: MnatState;
  try {
    state = loaded.snapshot ? MnatState.restore(loaded.snapshot, options.state, nowMs) : new MnatState(options.state);
    for (const record of loaded.records) state.applyChange(record);
  } catch (err) {
    throw new StateRestoreError((err as Error).message);
  }
  state.restartClocks(nowMs);
  const stats = state.stats();
  log.info('state restored', {
    dir,
    generation: loaded.generation,
    records: loaded.records.length,
    watchers: stats.watchers,
    channels: stats.channelsAssigned + stats.channelsUnassigned,
    tornTailAt: loaded.truncatedAt?.offset,
  });
  const store = new EmbeddedStore(state, journal, log, options.onJournalFailure);
  if (loaded.records.length > 0) journal.compact(state.snapshot());
  return store;
}

export class EmbeddedStore implements MnatStore {
  private readonly changedListeners: Array<(ids: readonly string[]) => void> = [];
  private readonly removedListeners: Array<(id: string) => void> = [];
  private readonly channelListeners: Array<(changes: readonly ChannelChange[]) => void> = [];
  /** What this turn's operations changed; told once the journal holds it (see queue()). */
  private batch: NotifyBatch | null = null;

  /** `journal` null: memory only. The state must not have other onChange listeners. */
  constructor(
    private readonly state: MnatState,
    private readonly journal: StateJournal | null,
    private readonly log: Logger,
    onJournalFailure?: (err: Error) => void,
  ) {
    if (journal) {
      state.onChange((change) => journal.append(change));
      journal.onFailure = onJournalFailure ?? null;
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
    return this.state.version(id);
  }
  channels(): ChannelRow[] {
    return this.state.channels();
  }
  stats(): StoreStats {
    const j = this.journal?.stats;
    return { ...this.state.stats(), backend: j ? { kind: 'journal', records: j.records, fsyncs: j.fsyncs, compactions: j.compactions } : { kind: 'memory' } };
  }
  nextDeadlineMs(): number | null {
    return this.state.nextDeadlineMs();
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

  /** Expiry, grace ends, waiting channels; then a compaction when the journal has grown enough. */
  tick(atMs: number): Promise<void> {
    let refused: unknown = null;
    try {
      applyIntent(this.state, { op: 'tick', at: atMs });
    } catch (err) {
      refused = err;
    }
    const durable = this.durable();
    this.compactIfDue();
    if (refused === null) return durable;
    durable.catch(() => undefined);
    return Promise.reject(refused);
  }

  refreshWatcher(id: string, atMs: number): number {
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
    if (this.channelListeners.length === 0) this.state.onChannelsChanged((changes) => this.queue().channels.push(...changes));
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
    await this.journal?.close();
  }

  // ---- internals ---------------------------------------------------------------

  /** Applies at once (reads see it), resolves once durable; a refusal rejects before anything is written. */
  private change(intent: StoreIntent): Promise<void> {
    try {
      applyIntent(this.state, intent);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.durable();
  }

  private durable(): Promise<void> {
    if (!this.journal) return Promise.resolve();
    return this.journal.sync().catch((err: Error) => {
      throw new StoreDurabilityError(err.message);
    });
  }

  private compactIfDue(): void {
    if (!this.journal || !this.journal.wantsCompaction()) return;
    try {
      this.journal.compact(this.state.snapshot());
    } catch (err) {
      this.log.error('compaction failed; the journal keeps growing', { error: (err as Error).message });
    }
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
      durable.then(
        () => this.tell(b),
        (err: Error) => this.log.error('not notifying watchers: journal failed', { error: err.message }),
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
