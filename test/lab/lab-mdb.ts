// The bridge's multicast database (`bridge -j mdb show`), parsed, and a wait for
// a condition on it driven by `bridge monitor mdb` events.
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
 * Waits until predicate(mdb) holds. Re-reads the table on every `bridge monitor
 * mdb` event; a slow backstop re-read covers the moment before the monitor has
 * subscribed. Rejects with the last table after timeoutMs.
 */
export async function waitForMdb(
  netns: string,
  bridge: string,
  predicate: (entries: MdbEntry[]) => boolean,
  timeoutMs = 10_000,
  what = 'mdb condition',
): Promise<MdbEntry[]> {
  const monitor = spawnLabProcess(['nsenter', `--net=/run/netns/${netns}`, '--', 'bridge', 'monitor', 'mdb'], undefined, `bridge monitor mdb (${netns})`);
  const deadline = Date.now() + timeoutMs;
  let last: MdbEntry[] = [];
  try {
    for (;;) {
      last = await readMdb(netns, bridge);
      if (predicate(last)) return last;
      const left = deadline - Date.now();
      if (left <= 0) break;
      // Next monitor event (any new line), or the backstop interval.
      await monitor.waitForLine(() => true, Math.min(left, 500), monitor.lines.length).catch(() => undefined);
    }
  } finally {
    await monitor.kill();
  }
  throw new Error(
    `${what}: not reached within ${timeoutMs} ms on ${bridge} in ${netns}; table:\n` +
      (last.map((e) => `  ${e.port} ${e.source ?? '*'},${e.group} ${e.state} ${e.filterMode ?? ''}`).join('\n') || '  (empty)'),
  );
}
