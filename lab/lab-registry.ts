// Ownership markers for lab runs, so a crashed run's namespaces can be removed
// later without touching labs that other processes are running right now.
// A marker /run/mnat-lab/<id>.json records the owning pid and its start time
// (from /proc/<pid>/stat, so a recycled pid is not mistaken for the owner).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execArgv } from './lab-exec.ts';

export const MARKER_DIR = '/run/mnat-lab';
export const NETNS_PREFIX = 'mn-';

/**
 * The bpffs directory for the translator pins of the agents of lab `id` (their
 * --pin-root). Agents killed with the lab cannot detach, so the lab removes it.
 */
export function labPinRoot(id: string): string {
  return `/sys/fs/bpf/mnat-lab-${id}`;
}

export interface LabMarker {
  id: string;
  pid: number;
  startTime: string | null;
  createdAt: string;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or null if the process is gone. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null; // fields 3.. → index 0 is field 3, so field 22 is index 19
  } catch {
    return null;
  }
}

export function isOwnerAlive(marker: LabMarker): boolean {
  const now = processStartTime(marker.pid);
  if (now === null) return false;
  return marker.startTime === null || marker.startTime === now;
}

export function writeMarker(id: string): void {
  mkdirSync(MARKER_DIR, { recursive: true });
  const marker: LabMarker = {
    id,
    pid: process.pid,
    startTime: processStartTime(process.pid),
    createdAt: new Date().toISOString(),
  };
  writeFileSync(`${MARKER_DIR}/${id}.json`, JSON.stringify(marker) + '\n');
}

export function removeMarker(id: string): void {
  try {
    unlinkSync(`${MARKER_DIR}/${id}.json`);
  } catch {
    // already gone
  }
}

/** Removes per-namespace files of lab `id` under MARKER_DIR (e.g. smcrouted's socket and pid file). */
export function removeLabFiles(id: string): void {
  if (!existsSync(MARKER_DIR)) return;
  for (const name of readdirSync(MARKER_DIR)) {
    if (name.startsWith(NETNS_PREFIX) && new RegExp(`-${id}\\.[a-z]+$`).test(name)) {
      try {
        unlinkSync(`${MARKER_DIR}/${name}`);
      } catch {
        // raced with the daemon removing it
      }
    }
  }
}

export function readMarkers(): LabMarker[] {
  if (!existsSync(MARKER_DIR)) return [];
  const out: LabMarker[] = [];
  for (const name of readdirSync(MARKER_DIR)) {
    if (!name.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(readFileSync(`${MARKER_DIR}/${name}`, 'utf8')) as LabMarker);
    } catch {
      // a marker being written right now, or garbage: leave it
    }
  }
  return out;
}

/** Namespace names of the form mn-<role>-<id>, as listed by `ip netns list`. */
export async function listLabNamespaces(): Promise<string[]> {
  const r = await execArgv(['ip', 'netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

/** The lab id encoded as the last dash-separated part of a namespace name. */
export function labIdOfNamespace(name: string): string | null {
  if (!name.startsWith(NETNS_PREFIX)) return null;
  const i = name.lastIndexOf('-');
  return i > NETNS_PREFIX.length - 1 ? name.slice(i + 1) : null;
}

/** Kills every process in the namespace, then deletes it (and with it its veths and bridges). */
export async function deleteNamespace(name: string): Promise<void> {
  const pids = await execArgv(['ip', 'netns', 'pids', name]);
  for (const p of pids.stdout.split('\n')) {
    const pid = Number(p);
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await execArgv(['ip', 'netns', 'del', name]);
}

/**
 * Removes leftovers of crashed lab runs: the namespaces (and the processes in
 * them, a router VM's QEMU included), the translator pin root and the run
 * directory of every marker whose owning process is dead, then the marker.
 * Namespaces without a marker are not ours (or not yet registered) and are
 * left alone. Returns the removed namespace names.
 */
export async function cleanupStale(): Promise<string[]> {
  const dead = readMarkers().filter((m) => !isOwnerAlive(m));
  if (dead.length === 0) return [];
  const deadIds = new Set(dead.map((m) => m.id));
  const removed: string[] = [];
  for (const ns of await listLabNamespaces()) {
    const id = labIdOfNamespace(ns);
    if (id !== null && deadIds.has(id)) {
      await deleteNamespace(ns);
      removed.push(ns);
    }
  }
  // Run directories are made as <tmpdir>/mnat-lab-<id>-XXXXXX (MnatLab, the router VM suite).
  const runDirs = readdirSync(tmpdir()).filter((name) => name.startsWith('mnat-lab-'));
  for (const id of deadIds) {
    rmSync(labPinRoot(id), { recursive: true, force: true });
    for (const name of runDirs) if (name.startsWith(`mnat-lab-${id}-`)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
    removeLabFiles(id);
    removeMarker(id);
  }
  return removed;
}
