// What an agent needs of the things around it, one set for both agents: the
// server feed (the watcher client), the translator and the upstream joiner.
// Rules and memberships are the data plane's own types (TranslationRule,
// JoinedChannel), not copies of them.
import type { Channel } from '../core/channel.ts';
import type { CounterList, TranslationRule } from '../dataplane/translator.ts';
import type { UpstreamJoiner } from '../dataplane/upstream-join.ts';
import type { MappedChannel } from '../protocol/model.ts';

/** The server link as the feed reports it. */
export interface FeedStatus {
  connected: boolean;
  watcherId: string | null;
  /** push | long-poll | poll */
  mode: string;
  lastError?: string;
}

/**
 * The server side of an agent (the watcher client): it keeps the agent's
 * desired set on the server (the egress's joined channels, the ingress's
 * monitored prefixes) and reports the assignments.
 */
export interface AssignmentFeed<T> {
  start(): void;
  stop(): Promise<void>;
  /** The full set to keep on the server; sent when it changed. */
  setDesired(items: readonly T[]): void;
  on(event: 'assignments', fn: (channels: MappedChannel[]) => void): void;
  on(event: 'status', fn: (status: FeedStatus) => void): void;
}

/** The translator as the agents use it (dataplane/translator.ts). */
export interface RuleTable {
  attach(device: string): Promise<unknown>;
  upsert(rule: TranslationRule): Promise<void>;
  remove(from: Channel): Promise<void>;
  /** Makes the rule set exactly `rules` in one kernel batch. */
  sync?(rules: readonly TranslationRule[]): Promise<void>;
  /** Per-rule packet counters, for the status file. */
  counters?(): Promise<CounterList>;
  detach(): Promise<void>;
  /** The rule sources of a dead predecessor found while cleaning up after it (once). */
  takeStaleRules?(): Channel[];
}

/** The upstream joiner (dataplane/upstream-join.ts). */
export type Joiner = UpstreamJoiner;
