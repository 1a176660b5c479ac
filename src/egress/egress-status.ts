// The egress status file (JSON, rewritten atomically on change by
// agent/status-file.ts): what goes in it, and its rendering for people
// (`mnat-egress status`). Pure: runs on QuickJS.
import { ago, formatServerLine, formatTable, redactWatcherId, type StatusServerLink } from '../agent/status-format.ts';
import type { FeedStatus } from '../agent/ports.ts';
import { channelKey, type Channel } from '../core/channel.ts';
import type { LinkInfo } from '../dataplane/link-info.ts';
import type { EgressSettings } from './config/egress-options.ts';
import type { EgressMapping } from './egress-reconcile.ts';
import type { Host } from '../host/host.ts';

export { redactWatcherId };

export interface EgressStatusChannel {
  /** "source,group" of the global channel the LAN joined. */
  readonly global: string;
  /** Who wants it: "mdb:p1", "control-file:line 3"… */
  readonly holders: readonly string[];
  readonly local: string | null;
  readonly id: number | null;
  /** active | held | waiting | unsupported | conflict | over-limit | no-device */
  readonly status: string;
  readonly note?: string;
  readonly packets?: number;
  readonly bytes?: number;
}

export interface EgressStatusDevice {
  readonly name: string;
  readonly present: boolean;
  readonly ifindex: number | null;
}

export interface EgressStatus {
  readonly component: 'mnat-egress';
  readonly version: 1;
  readonly runtime: string;
  readonly pid: number | null;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly server: StatusServerLink;
  readonly upstream: EgressStatusDevice & { readonly attached: boolean };
  readonly downstream: EgressStatusDevice & { readonly membership: string };
  readonly channels: readonly EgressStatusChannel[];
  readonly counters: {
    readonly reconciles: number;
    readonly actions: number;
    readonly failures: number;
    readonly lanJoins: number;
    readonly lanLeaves: number;
    readonly ignoredAsm: number;
    readonly drops?: Record<string, number>;
  };
}

/** What the egress knows that its status file shows. */
export interface EgressStatusInput {
  readonly host: Host;
  readonly settings: EgressSettings;
  readonly startedAt: string;
  readonly feed: FeedStatus;
  readonly devices: { get(name: string): LinkInfo | null };
  /** The LAN's channels and who wants each. */
  readonly lan: { channels(): Channel[]; holders(c: Channel): string[] };
  /** The translator is attached to the upstream device. */
  readonly attached: boolean;
  /** The last plan's view of each wanted channel. */
  readonly mappings: readonly EgressMapping[];
  /** Channels over the max-channels cap, by key. */
  readonly rejected: ReadonlySet<string>;
  /** The translator's rules, by local key. */
  readonly rules: ReadonlyMap<string, unknown>;
  /** Packet counters by local key. */
  readonly counters: ReadonlyMap<string, { packets: number; bytes: number }>;
  readonly stats: EgressStatus['counters'];
}

/** The status file's content. */
export function buildEgressStatus(i: EgressStatusInput): EgressStatus {
  const { settings: s, feed: f, host } = i;
  const byGlobal = new Map(i.mappings.map((m) => [channelKey(m.global), m]));
  const channels = i.lan.channels().map((channel): EgressStatusChannel => {
    const key = channelKey(channel);
    const m = byGlobal.get(key);
    const local = m?.local ? channelKey(m.local) : null;
    const count = local !== null && m?.status !== 'waiting' ? i.counters.get(local) : undefined;
    let status: string = m?.status ?? 'waiting';
    if (i.rejected.has(key)) status = 'over-limit';
    else if (status === 'active' && !i.rules.has(local ?? '')) status = i.attached ? 'pending' : 'no-device';
    return {
      global: key,
      holders: i.lan.holders(channel),
      local,
      id: m?.id ?? null,
      status,
      ...(m?.note ? { note: m.note } : {}),
      ...(count ? { packets: count.packets, bytes: count.bytes } : {}),
    };
  });
  const device = (name: string): EgressStatusDevice => {
    const link = i.devices.get(name);
    return { name, present: link !== null, ifindex: link?.ifindex ?? null };
  };
  return {
    component: 'mnat-egress',
    version: 1,
    runtime: host.runtime,
    pid: host.pid,
    startedAt: i.startedAt,
    updatedAt: new Date(host.wallClock()).toISOString(),
    server: {
      origin: s.target.origin,
      connected: f.connected,
      watcher: redactWatcherId(f.watcherId),
      mode: f.mode,
      ...(f.lastError ? { lastError: f.lastError } : {}),
    },
    upstream: { ...device(s.upstream), attached: i.attached },
    downstream: {
      ...device(s.downstream),
      membership: s.membership === 'mdb' ? 'snooping table' : s.membership === 'file' ? `control file ${s.controlFile}` : `snooping table + control file ${s.controlFile}`,
    },
    channels,
    counters: i.stats,
  };
}

/** Human-readable status; `nowMs` is the wall clock (epoch ms). */
export function formatEgressStatus(s: EgressStatus, nowMs: number): string {
  const lines: string[] = [];
  lines.push(`mnat-egress (${s.runtime}${s.pid !== null ? `, pid ${s.pid}` : ''}) started ${ago(s.startedAt, nowMs)}, updated ${ago(s.updatedAt, nowMs)}`);
  lines.push(formatServerLine(s.server));
  const dev = (d: EgressStatusDevice): string => (d.present ? `${d.name} (ifindex ${d.ifindex})` : `${d.name} MISSING`);
  lines.push(`upstream   ${dev(s.upstream)}${s.upstream.present ? (s.upstream.attached ? '  translator attached' : '  translator NOT attached') : ''}`);
  lines.push(`downstream ${dev(s.downstream)}  membership from ${s.downstream.membership}`);
  const c = s.counters;
  lines.push(
    `counters   ${c.reconciles} reconciles, ${c.actions} kernel changes, ${c.failures} failures, ` +
      `${c.lanJoins} LAN joins, ${c.lanLeaves} LAN leaves, ${c.ignoredAsm} ASM joins ignored`,
  );
  if (c.drops && Object.keys(c.drops).length > 0) {
    lines.push(`drops      ${Object.entries(c.drops).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  lines.push('');
  if (s.channels.length === 0) {
    lines.push('no channels joined');
  } else {
    const rows = s.channels.map((ch) => [
      ch.global,
      ch.local ?? '-',
      ch.status,
      ch.packets !== undefined ? String(ch.packets) : '-',
      ch.bytes !== undefined ? String(ch.bytes) : '-',
      ch.holders.join(' ') + (ch.note ? `  (${ch.note})` : ''),
    ]);
    lines.push(...formatTable(['GLOBAL (S,G)', 'LOCAL (S,G)', 'STATUS', 'PACKETS', 'BYTES', 'WANTED BY'], rows));
  }
  return lines.join('\n') + '\n';
}
