// Upstream joins: how an agent makes the network deliver an (S,G) to one of its
// interfaces. Two backends share this interface: Node sockets
// (upstream-join-socket.ts) and smcroutectl (upstream-join-smcroute.ts, for
// QuickJS on the router, which has no sockets).
import type { Channel } from '../core/channel.ts';

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
}

/** The key of a (channel, device) membership. */
export function membershipKey(channel: Channel, device: string): string {
  return `${device}|${channel.source},${channel.group}`;
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
