// The ietf-mnat data model (draft-ietf-mboned-mnat, revision 2020-10-22) as
// the codec, the server's state, the watcher client and both agents' reconcilers
// share it. Names follow the YANG leaves: a watcher's joined-sg and monitor
// entries, and the mapped-sg entries of assigned-channels.
import type { Channel } from '../core/channel.ts';

/** How a global channel is carried locally: an SSM (Sl,Gl) or an ASM (*,Gl) (`local-mapping`). */
export type LocalMapping = { source: string; group: string } | { asmGroup: string };

/** `mapped-sg/state`: assigned-local-multicast or unassigned (the pool is exhausted). */
export type MappingState = 'assigned' | 'unassigned';

/** One `mapped-sg` of assigned-channels. */
export interface MappedChannel {
  /** assignment-id (uint32), stable for the mapping's life. */
  readonly id: number;
  readonly global: Channel;
  readonly state: MappingState;
  /** null when unassigned. */
  readonly local: LocalMapping | null;
}

/** One `joined-sg` of an egress watcher. */
export interface JoinedSg {
  id: string;
  channel: Channel;
}

/** One `monitor` of an ingress watcher. */
export interface Monitor {
  id: string;
  /** Canonical prefix text. */
  globalSourcePrefix: string;
}

/** The group of a local mapping (its pool key: a Gl is never shared by two mappings). */
export function localGroup(local: LocalMapping): string {
  return 'asmGroup' in local ? local.asmGroup : local.group;
}

export function sameLocal(a: LocalMapping | null, b: LocalMapping | null): boolean {
  if (a === null || b === null) return a === b;
  if ('asmGroup' in a) return 'asmGroup' in b && a.asmGroup === b.asmGroup;
  return !('asmGroup' in b) && a.source === b.source && a.group === b.group;
}
