// The egress status file (JSON, rewritten atomically on change) and its
// rendering for people (`mnat-egress status`). Pure: runs on QuickJS.

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
  readonly server: {
    readonly origin: string;
    readonly connected: boolean;
    /** Only a prefix: the id is a secret that lets its holder change our joins. */
    readonly watcher: string | null;
    readonly mode: string;
    readonly lastError?: string;
  };
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

/** The first characters of a watcher id: enough to match logs, useless to an attacker. */
export function redactWatcherId(id: string | null): string | null {
  if (id === null) return null;
  return id.length <= 8 ? '…' : `${id.slice(0, 6)}…`;
}

function ago(fromIso: string, nowMs: number): string {
  const t = Date.parse(fromIso);
  if (!Number.isFinite(t)) return '?';
  const s = Math.max(0, Math.round((nowMs - t) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** Human-readable status; `nowMs` is the wall clock (epoch ms). */
export function formatEgressStatus(s: EgressStatus, nowMs: number): string {
  const lines: string[] = [];
  lines.push(`mnat-egress (${s.runtime}${s.pid !== null ? `, pid ${s.pid}` : ''}) started ${ago(s.startedAt, nowMs)}, updated ${ago(s.updatedAt, nowMs)}`);
  const sv = s.server;
  lines.push(
    `server     ${sv.origin}  ${sv.connected ? `connected (${sv.mode})` : 'NOT connected'}` +
      `${sv.watcher ? `  watcher ${sv.watcher}` : ''}${sv.lastError ? `  last error: ${sv.lastError}` : ''}`,
  );
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
    const head = ['GLOBAL (S,G)', 'LOCAL (S,G)', 'STATUS', 'PACKETS', 'BYTES', 'WANTED BY'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows]) lines.push(r.map((cell, i) => (i === r.length - 1 ? cell : pad(cell, widths[i]! + 2))).join('').trimEnd());
  }
  return lines.join('\n') + '\n';
}
