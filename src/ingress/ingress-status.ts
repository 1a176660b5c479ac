// The ingress status file (JSON, rewritten atomically after every pass) and its
// rendering for people (`mnat-ingress status`). Pure.
import { ago, formatServerLine, formatTable, type StatusServerLink } from '../agent/status-format.ts';

export { redactWatcherId } from '../agent/status-format.ts';

export interface IngressStatusChannel {
  readonly id: number;
  /** "source,group" */
  readonly global: string;
  readonly local: string;
  /** carried: rule + join (or rule only with --no-join); held: kept while the server state settles */
  readonly status: 'carried' | 'held';
  readonly joined: boolean;
  readonly packets?: number;
  readonly bytes?: number;
}

export interface IngressStatus {
  readonly component: 'mnat-ingress';
  readonly version: 1;
  readonly pid: number | null;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly server: StatusServerLink;
  readonly upstream: string;
  readonly downstream: readonly string[];
  readonly monitors: readonly string[];
  readonly join: boolean;
  readonly joinfile: string | null;
  /** ISO time until which removals are held (after the server lost our watcher), when in the future. */
  readonly settlingUntil?: string;
  readonly channels: readonly IngressStatusChannel[];
  readonly skipped: ReadonlyArray<{ readonly id: number; readonly global: string; readonly reason: string }>;
  readonly counters: {
    readonly reconciles: number;
    readonly failures: number;
    readonly lastReconcileMs: number | null;
    readonly drops?: Record<string, number>;
  };
}

/** Human-readable status; nowMs is the wall clock (epoch ms). */
export function formatIngressStatus(s: IngressStatus, nowMs: number): string {
  const lines: string[] = [];
  lines.push(`mnat-ingress${s.pid !== null ? ` (pid ${s.pid})` : ''} started ${ago(s.startedAt, nowMs)}, updated ${ago(s.updatedAt, nowMs)}`);
  lines.push(formatServerLine(s.server));
  lines.push(`upstream   ${s.upstream}  ${s.join ? 'joins upstream' : 'no upstream joins (--no-join)'}${s.joinfile ? `  joinfile ${s.joinfile}` : ''}`);
  lines.push(`downstream ${s.downstream.join(', ')}`);
  lines.push(`monitors   ${s.monitors.join(', ')}`);
  if (s.settlingUntil && Date.parse(s.settlingUntil) > nowMs) lines.push(`settling   removals held until ${s.settlingUntil} (the server gave a new watcher id)`);
  const c = s.counters;
  lines.push(`counters   ${c.reconciles} passes, ${c.failures} failures${c.lastReconcileMs !== null ? `, last pass ${Math.round(c.lastReconcileMs)} ms` : ''}`);
  if (c.drops && Object.values(c.drops).some((v) => v > 0)) {
    lines.push(`drops      ${Object.entries(c.drops).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  lines.push('');
  if (s.channels.length === 0) {
    lines.push('no channels carried');
  } else {
    const rows = s.channels.map((ch) => [
      String(ch.id),
      ch.global,
      ch.local,
      ch.status + (ch.joined ? '' : s.join ? ' (not joined)' : ''),
      ch.packets !== undefined ? String(ch.packets) : '-',
      ch.bytes !== undefined ? String(ch.bytes) : '-',
    ]);
    const head = ['ID', 'GLOBAL (S,G)', 'LOCAL (S,G)', 'STATUS', 'PACKETS', 'BYTES'];
    lines.push(...formatTable(head, rows));
  }
  for (const k of s.skipped) lines.push(`not carried: id ${k.id} ${k.global}: ${k.reason}`);
  return lines.join('\n') + '\n';
}
