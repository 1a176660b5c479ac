// The store seam: the one door through which the RESTCONF layer reads and
// changes the MNAT state (watchers, joins, monitors, mappings, the pool).
//
//   restconf/*  ──reads (sync)──────────▶  MnatStore  ◀── embedded-store.ts: MnatState + journal.ts
//               ──changes (async, JSON)─▶             ◀── etcd-store.ts: a region of front ends over etcd (docs/region.md)
//               ◀─events after durability─
//
// Rules every implementation keeps:
// - A change resolves only once it is durable (embedded: the journal is
//   fdatasync'ed; a replicated store: committed and applied here). A request
//   the state machine refuses rejects with its MnatError (unknown watcher,
//   wrong role, too many joins, invalid value, id in use, a per-client quota)
//   and changes nothing. A change that cannot be made durable rejects with
//   StoreDurabilityError, and the local state is then exactly the durable
//   state again; while the store cannot take changes at all (a full disk,
//   etcd without quorum) they reject with StoreUnavailableError before
//   anything is applied (reads go on meanwhile).
// - Reads are synchronous and local: they see every change this process has
//   applied, including ones still being made durable.
// - Events (watchersChanged, watcherRemoved, channelsChanged) fire only after
//   the changes they report are durable, so a client is never told what a
//   crash could undo.
// - Exactly one front end publishes to shared fan-out (the MQTT broker):
//   isPublisher() says whether it is this one (embedded: always; a region:
//   its leader) and onPublisherChanged() when that changes.
// - Refresh is liveness, not state: synchronous, never journaled; after a
//   restart every watcher gets a fresh expiry window.
//
// Designed for replication: every change is a StoreIntent, plain JSON with
// the decisions already taken by the caller (the watcher id is chosen by the
// RESTCONF layer, the time is passed in). The region store (etcd-store.ts,
// docs/region.md) appends intents to a shared log and every front end
// applies them with applyIntent() in log order to its own replica
// (etcd-replica.ts); a change resolves when it is committed and applied
// locally. What is not shared is liveness (refreshWatcher: each front end
// keeps it for the watchers it is home for, and writes expiries into the log)
// and the ETag versions (version() counts local applies; the RESTCONF layer
// qualifies it with a per-process instance tag). The replica settles the two
// things replication needs: the pool's random comes from the log (reseeded
// per operation from the log position), and replicas never expire watchers on
// their own clocks (MnatState's expireIdle: false).
// (The journal's StateChange effect records, which carry the decisions, are
// the other way to replicate: MnatState.applyChange replays them exactly.)
import type { JoinedSg, MappedChannel, Monitor } from '../../protocol/model.ts';
import type { ChannelChange, ChannelRow, MnatStats, WatcherRole } from '../state/state-types.ts';

/** A change to the state, as a JSON-serialisable intent (what a replicated log would carry). */
export type StoreIntent =
  // creator: the client address as the front end saw it (per-address quotas, state/quotas.ts)
  | { op: 'create-watcher'; id: string; owner?: string; creator?: string; at: number }
  | { op: 'delete-watcher'; id: string; at: number }
  | { op: 'set-joins'; id: string; joins: JoinedSg[]; at: number }
  | { op: 'merge-joins'; id: string; joins: JoinedSg[]; at: number }
  | { op: 'delete-joins'; id: string; at: number }
  | { op: 'set-monitors'; id: string; monitors: Monitor[]; at: number }
  | { op: 'merge-monitors'; id: string; monitors: Monitor[]; at: number }
  | { op: 'delete-monitors'; id: string; at: number }
  | { op: 'tick'; at: number };

/** The arguments of the change method for intent `K`: the intent without its op. */
export type IntentArgs<K extends StoreIntent['op']> = Omit<Extract<StoreIntent, { op: K }>, 'op'>;

/** How the store keeps its state, for /metrics and the status page. */
export type StoreBackendStats =
  | { kind: 'memory' }
  | {
      kind: 'journal';
      records: number;
      fsyncs: number;
      compactions: number;
      compactionFailures: number;
      writeFailures: number;
      /** The snapshot's generation and the live journal's size. */
      generation: number;
      journalBytes: number;
    }
  | ({ kind: 'etcd' } & RegionBackendStats);

/** A front end of a region over etcd (etcd-store.ts). */
export interface RegionBackendStats {
  frontendId: string;
  /** Live front ends of the region (registered with a lease). */
  frontends: number;
  /** The front end that writes ticks, orphan expiries and snapshots. */
  regionLeader: string | null;
  /** Writes and log entries are accepted now (etcd has a quorum and answers). */
  available: boolean;
  /** etcd members as etcd lists them; leader: etcd's Raft leader. */
  members: Array<{ name: string; clientUrls: string[]; leader: boolean; reachable: boolean }>;
  /** The last log revision applied here. */
  appliedRevision: number;
  /** Watchers whose liveness this front end keeps. */
  homedWatchers: number;
  /** etcd writes by this front end, by kind (intents, claims, expiries, ticks, snapshot, lease). */
  writes: Record<string, number>;
  /** Log writes answered by etcd, and the seconds they took in all (a Prometheus summary's _count and _sum). */
  logWrites: { count: number; seconds: number };
  /** Log entries applied here (from every front end). */
  entriesApplied: number;
  snapshotRevision: number;
  /** The client certificate etcd gets (--etcd-cert), or null. */
  clientCertificate: { subject: string; validTo: string } | null;
}

export type StoreStats = MnatStats & {
  backend: StoreBackendStats;
  /** Why changes are refused for now (StoreUnavailableError); null or absent while they are accepted. */
  readOnly?: { reason: string; sinceMs: number } | null;
};

/** A change could not be made durable: it is not acknowledged, and the store went back to its durable state. */
export class StoreDurabilityError extends Error {
  override name = 'StoreDurabilityError';
}

/** The store refuses changes for now (a full disk, lost quorum); reads still work. Answered 503. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(
    message: string,
    /** When to try again (seconds). */
    readonly retryAfterS = 2,
  ) {
    super(message);
  }
}

/** Synchronous reads from the local state. Unknown ids: roleOf, joins, monitors, assignedChannels and version throw MnatError('unknown-watcher'). */
export interface StoreReads {
  readonly refreshPeriodS: number;
  hasWatcher(id: string): boolean;
  /** The client certificate the watcher is bound to, if any. */
  ownerOf(id: string): string | undefined;
  roleOf(id: string): WatcherRole;
  watchersOwnedBy(owner: string): string[];
  egressJoins(id: string): JoinedSg[];
  ingressMonitors(id: string): Monitor[];
  assignedChannels(id: string): MappedChannel[];
  /** Changes whenever assignedChannels(id) changes (local to this process). */
  version(id: string): number;
  /** Every channel record, assigned and waiting. */
  channels(): ChannelRow[];
  stats(): StoreStats;
}

export interface MnatStore extends StoreReads {
  // Durable changes (see the rules above).
  createWatcher(change: IntentArgs<'create-watcher'>): Promise<void>;
  deleteWatcher(change: IntentArgs<'delete-watcher'>): Promise<void>;
  setJoins(change: IntentArgs<'set-joins'>): Promise<void>;
  mergeJoins(change: IntentArgs<'merge-joins'>): Promise<void>;
  deleteJoins(change: IntentArgs<'delete-joins'>): Promise<void>;
  setMonitors(change: IntentArgs<'set-monitors'>): Promise<void>;
  mergeMonitors(change: IntentArgs<'merge-monitors'>): Promise<void>;
  deleteMonitors(change: IntentArgs<'delete-monitors'>): Promise<void>;
  /** Expires watchers, ends grace periods, assigns waiting channels. */
  tick(atMs: number): Promise<void>;
  /** The next time tick() has something to do, or null. */
  nextDeadlineMs(): number | null;

  /** Liveness: restarts the watcher's expiry window; returns the refresh period (s). Throws MnatError for an unknown id. */
  refreshWatcher(id: string, atMs: number): number;

  /** Watchers whose assigned-channels changed or that were removed, in notification order (ingress first), once durable. */
  onWatchersChanged(listener: (ids: readonly string[]) => void): void;
  /** A watcher expired or was deleted, once durable. */
  onWatcherRemoved(listener: (id: string) => void): void;
  /** Channels whose mapping changed (opened, assigned, released: mapping null), each as of its change, in order, once durable. */
  onChannelsChanged(listener: (changes: readonly ChannelChange[]) => void): void;

  /** Whether this front end publishes mapping changes to shared fan-out (MQTT): exactly one of a region does. */
  isPublisher(): boolean;
  /** isPublisher() changed (a region's leader moved). */
  onPublisherChanged(listener: (publisher: boolean) => void): void;

  /**
   * Reads the credentials towards a shared engine (etcd: TLS files, password
   * file) again, for SIGHUP; returns the client certificate now used, or
   * null. Throws, keeping the old ones, when the new files do not fit.
   * Absent where there are none (embedded).
   */
  reloadCredentials?(): { subject: string; validTo: string } | null;

  /** Makes everything durable and releases files or connections. */
  close(): Promise<void>;
}
