// Upstream joins: how an agent makes the network deliver an (S,G) to one of its
// interfaces. Two backends share this interface: Node sockets
// (upstream-join-socket.ts) and smcroutectl (upstream-join-smcroute.ts, for
// QuickJS on the router, which has no sockets).
import type { Family } from '../core/address.ts';
import { channelKey, channelOf, parseChannel, type Channel } from '../core/channel.ts';

export interface JoinedChannel {
  channel: Channel;
  device: string;
}

export interface UpstreamJoiner {
  /** Joins (S,G) on device (IGMPv3 / MLDv2 source-specific). Idempotent. */
  join(channel: Channel, device: string): Promise<void>;
  /** Leaves (S,G) on device. Idempotent: leaving what is not joined does nothing. */
  leave(channel: Channel, device: string): Promise<void>;
  /** Exactly what this joiner has joined and not left, in join order. */
  joined(): JoinedChannel[];
  /** Leaves everything. The joiner stays usable. */
  close(): Promise<void>;
  /** Optional: joins several at once (their tool execs overlap); per item null or its error. */
  joinMany?(items: readonly JoinedChannel[]): Promise<Array<Error | null>>;
  /**
   * Optional (a backend whose joins outlive the process: smcrouted): takes over
   * the joins it holds for these channels on device, left by a dead run; they
   * are in joined() from now on. Returns how many.
   */
  adopt?(channels: readonly Channel[], device: string): Promise<number>;
}

/** The key of a (channel, device) membership. */
export function membershipKey(channel: Channel, device: string): string {
  return `${device}|${channelKey(channel)}`;
}

/** An error an operator can act on: names the channel, the device and what to check. */
export class UpstreamJoinError extends Error {
  constructor(
    readonly action: 'join' | 'leave',
    readonly channel: Channel,
    readonly device: string,
    reason: string,
  ) {
    super(`upstream ${action} (${channel.source},${channel.group}) on ${device}: ${reason}`);
    this.name = 'UpstreamJoinError';
  }
}

/** Runs async operations one at a time, in call order; a failed one does not stop the next. */
export function serialQueue(): <T>(fn: () => Promise<T>) => Promise<T> {
  let queue: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
}

/** The canonical form of a channel to join; a join error naming the device when it is not a valid (S,G). */
export function channelToJoin(given: Channel, device: string): { channel: Channel; family: Family } {
  try {
    const parsed = parseChannel(given.source, given.group);
    return { channel: channelOf(parsed), family: parsed.family };
  } catch (e) {
    throw new UpstreamJoinError('join', given, device, (e as Error).message);
  }
}

/** The canonical form of a channel to leave; null when it was never joinable, so never joined. */
export function channelToLeave(given: Channel): Channel | null {
  try {
    return channelOf(parseChannel(given.source, given.group));
  } catch {
    return null;
  }
}

/**
 * The UpstreamJoiner of a backend: its join, leave and close run one at a time
 * (interleaving would race the backend's own state), and joined() is a copy of
 * the view the backend keeps exact.
 */
export function serialJoiner(
  view: ReadonlyMap<string, JoinedChannel>,
  ops: {
    join(channel: Channel, device: string): Promise<void>;
    leave(channel: Channel, device: string): Promise<void>;
    close(): Promise<void>;
    joinMany?(items: readonly JoinedChannel[]): Promise<Array<Error | null>>;
    adopt?(channels: readonly Channel[], device: string): Promise<number>;
  },
): UpstreamJoiner {
  const serial = serialQueue();
  /** The operation, run in turn with the others; an optional one the backend lacks stays undefined. */
  const inTurn = <A extends unknown[], R>(op: ((...args: A) => Promise<R>) | undefined) => op && ((...args: A) => serial(() => op(...args)));
  return {
    join: inTurn(ops.join)!,
    leave: inTurn(ops.leave)!,
    joined: () => [...view.values()].map((j) => ({ channel: { ...j.channel }, device: j.device })),
    close: inTurn(ops.close)!,
    joinMany: inTurn(ops.joinMany),
    adopt: inTurn(ops.adopt),
  };
}
