// The state machine's vocabulary: options, errors, the journal's effect
// records (StateChange), the snapshot format and the counters. Everything here
// is plain JSON-serialisable data except MnatError and the Pool instance.
import type { Channel } from '../../core/channel.ts';
import type { LocalMapping, MappedChannel } from '../../protocol/model.ts';
import type { Pool, PoolSnapshot } from './pool.ts';

/** Per-client watcher quotas (quotas.ts); all off unless given. */
export interface QuotaOptions {
  /** Watchers one address may hold without a client certificate (0 or absent: no limit). */
  maxWatchersPerAddress?: number;
  /** Watchers one client certificate may hold (0 or absent: no limit). */
  maxWatchersPerOwner?: number;
  /** get-new-watcher-id per client, sustained (0 or absent: no limit)… */
  newWatchersPerMinute?: number;
  /** …and at once after a quiet time (default: 10). */
  newWatcherBurst?: number;
}

/** The get-new-watcher-id rate buckets in a snapshot (quotas.ts): [client, tokens, at ms]. */
export type BucketTuple = [string, number, number];

/** Besides these, the per-client watcher quotas of quotas.ts (all off unless given). */
export interface MnatStateOptions extends QuotaOptions {
  pool: Pool;
  /** Seconds between refreshes the clients are told to keep (default 10); expiry after 3 missed. */
  refreshPeriodS?: number;
  /** Seconds a released local pair stays unused (default 250). */
  gracePeriodS?: number;
  /** Per-watcher limit on joined-sg (and monitor) entries (default 64). */
  maxJoinsPerWatcher?: number;
  /**
   * Id generator for createWatcher(). The server picks ids itself (>= 128-bit
   * crypto-random) and calls addWatcher(id, …), so it may leave this out.
   */
  newWatcherId?: () => string;
  /**
   * Default true: a watcher not refreshed for 3 periods is removed by the next
   * operation. false: never on this state's clock; a replicated store removes
   * idle watchers with delete-watcher intents in its log instead (see store.ts).
   */
  expireIdle?: boolean;
}

function checkPositive(name: string, v: number | undefined, dflt: number, zeroOk = false): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < 0 || (v === 0 && !zeroOk)) {
    throw new RangeError(`${name} must be a ${zeroOk ? 'non-negative' : 'positive'} number, got ${v}`);
  }
  return v;
}

/** The numeric options with their defaults, checked (RangeError names the option). */
export function resolveLimits(options: MnatStateOptions): { refreshPeriodS: number; gracePeriodS: number; maxJoinsPerWatcher: number } {
  return {
    refreshPeriodS: checkPositive('refreshPeriodS', options.refreshPeriodS, 10),
    gracePeriodS: checkPositive('gracePeriodS', options.gracePeriodS, 250, true),
    maxJoinsPerWatcher: Math.floor(checkPositive('maxJoinsPerWatcher', options.maxJoinsPerWatcher, 64)),
  };
}

export type MnatErrorKind =
  | 'unknown-watcher'
  | 'too-many-joins'
  | 'invalid-value'
  | 'wrong-role'
  | 'id-in-use'
  // per-client quotas (quotas.ts)
  | 'watchers-per-address'
  | 'watchers-per-certificate'
  | 'new-watcher-rate';

export class MnatError extends Error {
  override readonly name = 'MnatError';
  readonly kind: MnatErrorKind;
  /** Relative to the watcher entry, e.g. "joined-sg[2]/group". */
  readonly path?: string;
  /** For a rate refusal: seconds until the client may try again. */
  readonly retryAfterS?: number;
  constructor(kind: MnatErrorKind, message: string, path?: string, retryAfterS?: number) {
    // A refusal, not a bug: no stack trace (it is most of an error's cost, and refusals can be many).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.kind = kind;
    if (path !== undefined) this.path = path;
    if (retryAfterS !== undefined) this.retryAfterS = retryAfterS;
  }
}

export type WatcherRole = 'egress' | 'ingress' | 'none';

/** A watcher of the other role was named for `wanted` joins or monitors (one role per watcher). */
export function wrongRoleError(wanted: 'egress' | 'ingress', path?: string): MnatError {
  const [has, wants] = wanted === 'egress' ? ['ingress monitors', 'egress joins'] : ['egress joins', 'ingress monitors'];
  return new MnatError('wrong-role', `this watcher has ${has}; use a separate watcher id for ${wants}`, path);
}

/** A join or monitor in journal form: [id, source, group] / [id, prefix]. */
export type JoinTuple = [string, string, string];
export type MonitorTuple = [string, string];

/** JSON-serialisable effect records; applyChange replays them without new decisions. */
export type StateChange =
  | { op: 'watcher-created'; id: string; owner?: string; creator?: string; at: number }
  | { op: 'watcher-removed'; id: string; reason: 'expired' | 'deleted'; at: number }
  | { op: 'joins-set'; id: string; joins: JoinTuple[] | null; at: number }
  | { op: 'monitors-set'; id: string; monitors: MonitorTuple[] | null; at: number }
  | { op: 'mapping-assigned'; source: string; group: string; local: LocalMapping; at: number }
  | { op: 'grace-ended'; local: LocalMapping; at: number };

export interface StateSnapshot {
  format: 'mnat-state/1';
  nextAssignmentId: number;
  nextSeq: number;
  watchers: Array<{ id: string; owner?: string; creator?: string; joins?: JoinTuple[]; monitors?: MonitorTuple[] }>;
  channels: Array<{ source: string; group: string; id: number; seq: number; local: LocalMapping | null }>;
  pool: PoolSnapshot;
  /** The get-new-watcher-id rate buckets that have not refilled yet (quotas.ts). */
  buckets?: BucketTuple[];
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

/** A channel's mapping after a change: null once nobody joins it (released). */
export interface ChannelChange {
  readonly channel: Channel;
  readonly mapping: MappedChannel | null;
}

/** One channel record for the status page: its mapping and how many egress watchers join it. */
export type ChannelRow = MappedChannel & { egressWatchers: number };
