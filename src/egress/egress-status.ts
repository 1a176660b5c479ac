// The egress status file (JSON, rewritten atomically on change) and its
// rendering for people (`mnat-egress status`). Pure: runs on QuickJS.
import { ago, formatServerLine, formatTable, redactWatcherId, type StatusServerLink } from '../agent/status-format.ts';

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
