// The bridge's multicast database (`bridge -j mdb show`), parsed, and a wait for
// a condition on it driven by `bridge monitor mdb` events.
import { readFileSync } from 'node:fs';
import { execArgv } from './lab-exec.ts';
import { spawnLabProcess } from './lab-process.ts';

export interface MdbEntry {
  bridge: string;
  port: string;
  group: string;
  /** Set for a source-specific (S,G) entry. */
  source: string | null;
  state: string;
  filterMode: string | null;
  sourceList: string[];
}

/** Parses `bridge -j mdb show` output (iproute2 6.x JSON). Pure. */
export function parseMdbJson(text: string): MdbEntry[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const doc = JSON.parse(trimmed) as unknown;
  const out: MdbEntry[] = [];
  const blocks = Array.isArray(doc) ? doc : [doc];
  for (const block of blocks) {
    const mdb = (block as { mdb?: unknown }).mdb;
    if (!Array.isArray(mdb)) continue;
    for (const raw of mdb as Array<Record<string, unknown>>) {
      const list = Array.isArray(raw.source_list) ? (raw.source_list as Array<{ address?: string }>) : [];
      out.push({
        bridge: String(raw.dev ?? ''),
        port: String(raw.port ?? ''),
        group: String(raw.grp ?? ''),
        source: typeof raw.src === 'string' ? raw.src : null,
        state: String(raw.state ?? ''),
        filterMode: typeof raw.filter_mode === 'string' ? raw.filter_mode : null,
        sourceList: list.map((s) => String(s.address ?? '')).filter((s) => s !== ''),
      });
    }
  }
  return out;
}

/** True when the table forwards (source, group) to port: an (S,G) entry for that port. */
export function mdbHasChannel(entries: MdbEntry[], port: string, source: string, group: string): boolean {
  return entries.some((e) => e.port === port && e.group === group && e.source === source);
}

export async function readMdb(netns: string, bridge: string): Promise<MdbEntry[]> {
  const r = await execArgv(['nsenter', `--net=/run/netns/${netns}`, '--', 'bridge', '-d', '-j', 'mdb', 'show', 'dev', bridge]);
  if (r.code !== 0) throw new Error(`bridge mdb show dev ${bridge} in ${netns} failed: ${r.stderr.trim()}`);
  return parseMdbJson(r.stdout).filter((e) => e.bridge === bridge);
}

/**
 * Resolves once process pid has a NETLINK_ROUTE socket subscribed to some
 * multicast group (/proc/<pid>/net/netlink, "Groups" column), i.e. once a
 * monitor can no longer miss an event. Reading that file is cheap; polled
 * briefly because the subscription itself raises no event we could await.
 */
export async function waitNetlinkSubscribed(pid: number, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const rows = readFileSync(`/proc/${pid}/net/netlink`, 'utf8').split('\n').slice(1);
      if (rows.some((r) => {
        const f = r.trim().split(/\s+/);
        return f[1] === '0' && Number(f[2]) === pid && f[3] !== undefined && /[1-9a-f]/i.test(f[3]);
      })) return;
    } catch {
      // not started (or already gone): keep trying until the deadline
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} did not subscribe to netlink events within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Waits until predicate(mdb) holds. Starts `bridge monitor mdb`, waits until it
 * is subscribed, then reads the table and re-reads it on every monitor event
 * (a 1 s backstop re-read guards against a lost event). Rejects with the last
 * table after timeoutMs.
 */
// `bridge monitor` block-buffers stdout on a pipe: stdbuf -oL makes each event a line at once.
export async function waitForMdb(
  netns: string,
  bridge: string,
  predicate: (entries: MdbEntry[]) => boolean,
  timeoutMs = 10_000,
  what = 'mdb condition',
): Promise<MdbEntry[]> {
  const monitor = spawnLabProcess(['nsenter', `--net=/run/netns/${netns}`, '--', 'stdbuf', '-oL', 'bridge', 'monitor', 'mdb'], undefined, `bridge monitor mdb (${netns})`);
  const deadline = Date.now() + timeoutMs;
  let last: MdbEntry[] = [];
  try {
    await waitNetlinkSubscribed(monitor.pid, Math.max(0, deadline - Date.now()));
    for (;;) {
      const seen = monitor.lines.length; // before the read: an event during the read is not lost
      last = await readMdb(netns, bridge);
      if (predicate(last)) return last;
      const left = deadline - Date.now();
      if (left <= 0) break;
      // Next monitor event (any new line), or the backstop interval.
      await monitor.waitForLine(() => true, Math.min(left, 1000), seen).catch(() => undefined);
    }
  } finally {
    await monitor.kill();
  }
  throw new Error(
    `${what}: not reached within ${timeoutMs} ms on ${bridge} in ${netns}; table:\n` +
      (last.map((e) => `  ${e.port} ${e.source ?? '*'},${e.group} ${e.state} ${e.filterMode ?? ''}`).join('\n') || '  (empty)'),
  );
}
