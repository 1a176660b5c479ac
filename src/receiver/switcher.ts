// Make-before-break between local mappings of one global channel. When the
// server re-maps (Sg,Gg) from (Sl,Gl) to (Sl',Gl'), the new link (a socket
// joined to the new local channel) opens while the old one stays; the old one
// closes `drainMs` after the first datagram arrives on the new one (what was
// in flight on the old path still arrives), or `overlapMs` after the switch
// if the new path stays silent. The ingress translates each datagram to one
// local channel only, and each link accepts only its own (S,G) (see
// ssm-link.ts), so no datagram is delivered twice or from another channel.
// The old local channel cannot be handed to another global channel while the
// server's grace period (250 s by default) runs, which bounds overlapMs.
//
// Pure: links and timers are injected (unit tests drive time).
import { sameLocal, type LocalMapping } from '../protocol/model.ts';
import type { TimerHandle } from '../host/host.ts';

export interface Link {
  close(): void;
}

export interface DatagramInfo {
  /** The local channel it arrived on. */
  readonly local: LocalMapping;
  /** The sender's address and port as the socket saw them (the local source Sl). */
  readonly address: string;
  readonly port: number;
}

export interface SwitcherOptions {
  /** Opens a link joined to `local`; it calls `deliver` for each datagram of that channel. May throw. */
  open(local: LocalMapping, deliver: (payload: Uint8Array, address: string, port: number) => void): Link;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  onDatagram(payload: Uint8Array, info: DatagramInfo): void;
  /** The old link closed: `to` is the local channel now carrying the stream. */
  onSwitched?(from: LocalMapping, to: LocalMapping, reason: 'drained' | 'timeout'): void;
  /** Default 200 ms. */
  drainMs?: number;
  /** Default 10 000 ms. */
  overlapMs?: number;
}

export interface Switcher {
  /** The local channel to receive now (null: none, e.g. unassigned). Opening may throw. */
  set(local: LocalMapping | null): void;
  readonly current: LocalMapping | null;
  /** Whether an old link is still open next to the current one. */
  readonly switching: boolean;
  close(): void;
}

interface Entry {
  local: LocalMapping;
  link: Link | null;
  seen: boolean;
}

const groupOf = (l: LocalMapping): string => ('asmGroup' in l ? l.asmGroup : l.group);

export function createSwitcher(o: SwitcherOptions): Switcher {
  const drainMs = o.drainMs ?? 200;
  const overlapMs = o.overlapMs ?? 10_000;
  let current: Entry | null = null;
  let previous: Entry | null = null;
  let timer: TimerHandle | null = null;

  const disarm = (): void => {
    if (timer !== null) o.clearTimeout(timer);
    timer = null;
  };
  const shut = (e: Entry | null): void => {
    if (e?.link) e.link.close();
    if (e) e.link = null;
  };
  const retire = (reason: 'drained' | 'timeout'): void => {
    disarm();
    const old = previous;
    previous = null;
    shut(old);
    if (old && current) o.onSwitched?.(old.local, current.local, reason);
  };

  return {
    set(local) {
      if (current && local && sameLocal(current.local, local)) return;
      disarm();
      shut(previous);
      previous = null;
      if (local === null) {
        shut(current);
        current = null;
        return;
      }
      const old = current;
      // An ASM link (*,Gl) would also accept an SSM link's datagrams on the same
      // group: in that one case break before make.
      if (old && groupOf(old.local) === groupOf(local) && ('asmGroup' in old.local || 'asmGroup' in local)) shut(old);
      const entry: Entry = { local, link: null, seen: false };
      // If opening throws, the old link (if any) keeps receiving.
      const link = o.open(local, (payload, address, port) => {
        if (entry.link === null) return; // closed: a late event
        if (entry === current && !entry.seen) {
          entry.seen = true;
          if (previous) {
            disarm();
            timer = o.setTimeout(() => retire('drained'), drainMs);
          }
        }
        o.onDatagram(payload, { local, address, port });
      });
      entry.link = link;
      current = entry;
      if (old?.link) {
        previous = old;
        timer = o.setTimeout(() => retire('timeout'), overlapMs);
      }
    },
    get current() {
      return current?.local ?? null;
    },
    get switching() {
      return previous !== null;
    },
    close() {
      disarm();
      shut(previous);
      shut(current);
      previous = current = null;
    },
  };
}
