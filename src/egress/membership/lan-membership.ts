// The LAN's joins: the union of the membership sources the settings name (the
// bridge's snooping table, a control file), a channel kept while one holder
// still wants it. Each LAN join and leave is logged once; the agent is told
// when the union changed.
import type { Channel } from '../../core/channel.ts';
import type { Host, Logger } from '../../host/host.ts';
import { show } from '../../agent/kernel-change.ts';
import type { EgressSettings } from '../config/egress-options.ts';
import { createControlSource, type ControlSource } from './control-source.ts';
import { createMdbSource, type MdbSource } from './mdb-source.ts';
import { MembershipTable, type HeldChannel } from './membership-table.ts';

export interface LanMembershipOptions {
  readonly host: Host;
  readonly log: Logger;
  /** After every read of a source; `joinedOrLeft`: the union changed (not only its holders). */
  readonly onChange: (joinedOrLeft: boolean) => void;
  /** Counted here: LAN joins and leaves, and the ASM joins in the snooping table (ignored: MNAT maps source-specific channels). */
  readonly stats: { lanJoins: number; lanLeaves: number; ignoredAsm: number };
  /** Control-file stat period (default 1 s). */
  readonly controlCheckMs?: number;
  /** Snooping table safety re-read (default 30 s). */
  readonly mdbSafetyMs?: number;
}

export interface LanMembership {
  /** Starts the sources the settings name. */
  start(s: EgressSettings): void;
  stop(): void;
  /** New settings: the sources start over when they changed (true), else they are read again. */
  reload(prev: EgressSettings, next: EgressSettings): boolean;
  /** The channels some LAN holder wants, in key order. */
  channels(): Channel[];
  /** Who wants a channel: "mdb:lan1", "control-file:line 3". */
  holders(c: Channel): string[];
  /** Read the snooping table soon (after its settings changed); `anew` when the bridge was re-created: report it in full. */
  refresh(anew?: boolean): void;
}

export function createLanMembership(opts: LanMembershipOptions): LanMembership {
  const { host, log, stats } = opts;
  const table = new MembershipTable();
  let mdb: MdbSource | null = null;
  let control: ControlSource | null = null;
  let live = false;

  const apply = (input: string, channels: HeldChannel[]): void => {
    if (!live) return;
    const change = table.update(input, channels);
    const who = input === 'mdb' ? 'LAN' : input;
    for (const c of change.added) {
      stats.lanJoins++;
      log.info(`${who} joined`, { channel: show(c), by: table.holders(c).join(' ') });
    }
    for (const c of change.removed) {
      stats.lanLeaves++;
      log.info(`${who} left`, { channel: show(c) });
    }
    opts.onChange(change.added.length + change.removed.length > 0);
  };

  const start = (s: EgressSettings): void => {
    live = true;
    if (s.membership !== 'file') {
      mdb = createMdbSource(host, log, s.downstream, (channels, ignored) => {
        stats.ignoredAsm = ignored.filter((i) => i.reason !== 'invalid').length;
        apply('mdb', channels);
      }, opts.mdbSafetyMs);
      mdb.start();
    }
    if (s.membership !== 'mdb' && s.controlFile !== null) {
      control = createControlSource(host, log, s.controlFile, (channels) => apply('control-file', channels), opts.controlCheckMs);
      control.start();
    }
  };

  const stop = (): void => {
    live = false;
    mdb?.stop();
    mdb = null;
    control?.stop();
    control = null;
  };

  return {
    start,
    stop,
    reload(prev, next) {
      if (next.membership === prev.membership && next.controlFile === prev.controlFile && next.downstream === prev.downstream) {
        control?.reload();
        mdb?.refresh();
        return false;
      }
      stop();
      live = true;
      // An input no longer used gives up its joins.
      if (next.membership === 'file') apply('mdb', []);
      if (next.membership === 'mdb') apply('control-file', []);
      start(next);
      return true;
    },
    channels: () => table.channels(),
    holders: (c) => table.holders(c),
    refresh(anew) {
      if (anew) mdb?.invalidate();
      else mdb?.refresh();
    },
  };
}
