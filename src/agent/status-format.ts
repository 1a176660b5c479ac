// Text pieces of the agents' `status` output that the ingress and the egress
// render alike. Pure: runs on QuickJS.

/** The server link as an agent's status file records it. */
export interface StatusServerLink {
  readonly origin: string;
  readonly connected: boolean;
  /** Only a prefix (redactWatcherId): the id is a secret that lets its holder change the watcher's state. */
  readonly watcher: string | null;
  readonly mode: string;
  readonly lastError?: string;
}

/** The first characters of a watcher id: enough to match logs, useless to an attacker. */
export function redactWatcherId(id: string | null): string | null {
  if (id === null) return null;
  return id.length <= 8 ? '…' : `${id.slice(0, 6)}…`;
}

/** "42s ago", "5m ago", "3h ago"; "?" when fromIso is not a time. */
export function ago(fromIso: string, nowMs: number): string {
  const t = Date.parse(fromIso);
  if (!Number.isFinite(t)) return '?';
  const s = Math.max(0, Math.round((nowMs - t) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** The "server" line: origin, connected or not (and how), the watcher prefix, the last error. */
export function formatServerLine(sv: StatusServerLink): string {
  return (
    `server     ${sv.origin}  ${sv.connected ? `connected (${sv.mode})` : 'NOT connected'}` +
    `${sv.watcher ? `  watcher ${sv.watcher}` : ''}${sv.lastError ? `  last error: ${sv.lastError}` : ''}`
  );
}

/** A header and rows as lines: each column as wide as its widest cell plus two spaces, no trailing blanks. */
export function formatTable(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  return [head, ...rows].map((r) => r.map((cell, i) => cell.padEnd((widths[i] as number) + 2)).join('').trimEnd());
}
