// The MNAT service's assignment state machine. API SKELETON: implementation
// follows in the next commit.
import type { Channel } from './channel.ts';
import type { LocalMapping, Pool, PoolSnapshot } from './pool.ts';

export type { LocalMapping } from './pool.ts';

export interface MnatStateOptions {
  pool: Pool;
  refreshPeriodS: number;
  gracePeriodS: number;
  maxJoinsPerWatcher: number;
  newWatcherId: () => string;
}

export type MappingState = 'assigned' | 'unassigned';

export interface MappedChannel {
  /** assignment-id (uint32), stable for the mapping's life. */
  readonly id: number;
  readonly global: Channel;
  readonly state: MappingState;
  /** null when unassigned. */
  readonly local: LocalMapping | null;
}

export interface JoinedSg {
  id: string;
  channel: Channel;
}

export interface Monitor {
  id: string;
  /** Canonical prefix text. */
  globalSourcePrefix: string;
}

export type MnatErrorKind = 'unknown-watcher' | 'too-many-joins' | 'invalid-value' | 'wrong-role';

export class MnatError extends Error {
  override readonly name = 'MnatError';
  readonly kind: MnatErrorKind;
  readonly path?: string;
  constructor(kind: MnatErrorKind, message: string, path?: string) {
    super(message);
    this.kind = kind;
    if (path !== undefined) this.path = path;
  }
}

export type WatcherRole = 'egress' | 'ingress' | 'none';

/** A join or monitor in journal form: [id, source, group] / [id, prefix]. */
export type JoinTuple = [string, string, string];
export type MonitorTuple = [string, string];

/** JSON-serialisable effect records; applyChange replays them without new decisions. */
export type StateChange =
  | { op: 'watcher-created'; id: string; owner?: string; at: number }
  | { op: 'watcher-removed'; id: string; reason: 'expired' | 'deleted'; at: number }
  | { op: 'joins-set'; id: string; joins: JoinTuple[] | null; at: number }
  | { op: 'monitors-set'; id: string; monitors: MonitorTuple[] | null; at: number }
  | { op: 'mapping-assigned'; source: string; group: string; local: LocalMapping; at: number }
  | { op: 'grace-ended'; local: LocalMapping; at: number };

export interface StateSnapshot {
  format: 'mnat-state/1';
  nextAssignmentId: number;
  nextSeq: number;
  watchers: Array<{ id: string; owner?: string; joins?: JoinTuple[]; monitors?: MonitorTuple[] }>;
  channels: Array<{ source: string; group: string; id: number; seq: number; local: LocalMapping | null }>;
  pool: PoolSnapshot;
}

export interface MnatStats {
  watchers: number;
  egressWatchers: number;
  ingressWatchers: number;
  channelsAssigned: number;
  channelsUnassigned: number;
  poolSize: bigint;
  poolInUse: number;
  poolInGrace: number;
}

export declare class MnatState {
  constructor(options: MnatStateOptions);
  readonly refreshPeriodS: number;
  createWatcher(nowMs: number, owner?: string): { id: string; refreshPeriodS: number };
  refreshWatcher(id: string, nowMs: number): number;
  hasWatcher(id: string): boolean;
  ownerOf(id: string): string | undefined;
  roleOf(id: string): WatcherRole;
  /** Removes a watcher at once (releasing its joins), as expiry would. */
  deleteWatcher(id: string, nowMs: number): void;
  setEgressJoins(id: string, joins: JoinedSg[], nowMs: number): void;
  mergeEgressJoins(id: string, joins: JoinedSg[], nowMs: number): void;
  deleteEgressJoins(id: string, nowMs: number): void;
  setIngressMonitors(id: string, monitors: Monitor[], nowMs: number): void;
  mergeIngressMonitors(id: string, monitors: Monitor[], nowMs: number): void;
  deleteIngressMonitors(id: string, nowMs: number): void;
  egressJoins(id: string): JoinedSg[];
  ingressMonitors(id: string): Monitor[];
  assignedChannels(id: string): MappedChannel[];
  version(id: string): number;
  watcherIds(): string[];
  /** Every channel with a mapping record (assigned and waiting), for status pages. */
  channels(): Array<MappedChannel & { egressWatchers: number }>;
  tick(nowMs: number): void;
  nextDeadlineMs(): number | null;
  onWatchersChanged(listener: (ids: string[]) => void): void;
  onWatcherRemoved(listener: (id: string, reason: 'expired' | 'deleted') => void): void;
  onChange(listener: (change: StateChange) => void): void;
  applyChange(change: StateChange): void;
  /** Gives every watcher a fresh expiry window (after restore/replay). */
  restartClocks(nowMs: number): void;
  snapshot(): StateSnapshot;
  static restore(snapshot: StateSnapshot, options: MnatStateOptions, nowMs?: number): MnatState;
  stats(): MnatStats;
}
