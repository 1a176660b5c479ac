// bpftool operations the translator needs: load+pin, program id, map dump,
// and many map updates in one exec (`bpftool -j batch file -`).
import type { Host } from '../host/host.ts';
import { parseMapDump, type DumpEntry } from './bpf-map-codec.ts';
import { commandFailed, DataplaneError, runTool, runToolOk } from './tool-exec.ts';

/** Loads the object's first program as a tc classifier, pins it at progPin and every map as mapDir/<name>. */
export async function loadProgram(host: Host, objectPath: string, progPin: string, mapDir: string): Promise<void> {
  const argv = ['bpftool', 'prog', 'load', objectPath, progPin, 'type', 'classifier', 'pinmaps', mapDir];
  const result = await runTool(host, argv);
  if (result.code !== 0) {
    const err = commandFailed(argv, result);
    throw new DataplaneError('command-failed', `loading the BPF program failed (is the kernel built with BPF and cls_bpf?): ${err.message}`);
  }
}

/** The id of a pinned program, or null when nothing is pinned there. */
export async function pinnedProgId(host: Host, progPin: string): Promise<number | null> {
  const result = await runTool(host, ['bpftool', '-j', 'prog', 'show', 'pinned', progPin]);
  if (result.code !== 0) return null;
  const parsed = JSON.parse(result.stdout) as { id?: unknown };
  return typeof parsed.id === 'number' ? parsed.id : null;
}

export interface ProgStats {
  readonly id: number;
  readonly runTimeNs: number;
  readonly runCount: number;
}

/** run_time_ns/run_cnt of a pinned program (non-zero only with sysctl kernel.bpf_stats_enabled=1). */
export async function pinnedProgStats(host: Host, progPin: string): Promise<ProgStats> {
  const out = await runToolOk(host, ['bpftool', '-j', 'prog', 'show', 'pinned', progPin]);
  const p = JSON.parse(out) as { id: number; run_time_ns?: number; run_cnt?: number };
  return { id: p.id, runTimeNs: p.run_time_ns ?? 0, runCount: p.run_cnt ?? 0 };
}

/** A map's entries, by its pin or (a number) its id. */
export async function dumpMap(host: Host, map: string | number): Promise<DumpEntry[]> {
  const out = await runToolOk(host, ['bpftool', '-j', 'map', 'dump', ...(typeof map === 'number' ? ['id', String(map)] : ['pinned', map])]);
  return parseMapDump(out, String(map));
}

/** The maps a loaded program uses, id by name (two execs), e.g. of a filter whose pins are gone. */
export async function programMaps(host: Host, progId: number): Promise<Record<string, number>> {
  const ids = (JSON.parse(await runToolOk(host, ['bpftool', '-j', 'prog', 'show', 'id', String(progId)])) as { map_ids?: number[] }).map_ids ?? [];
  const maps = JSON.parse(await runToolOk(host, ['bpftool', '-j', 'map', 'show'])) as Array<{ id: number; name: string }>;
  return Object.fromEntries(maps.filter((m) => ids.includes(m.id)).map((m) => [m.name, m.id]));
}

export interface BatchFailure {
  /** Index of the failing command; the ones after it did not run. */
  readonly index: number;
  readonly error: string;
}

/**
 * Runs bpftool commands (argv without the leading "bpftool") in one process.
 * bpftool stops at the first failure; returns it, or null when all succeeded.
 */
export async function runBatch(host: Host, commands: readonly (readonly string[])[]): Promise<BatchFailure | null> {
  if (commands.length === 0) return null;
  for (const c of commands) {
    for (const word of c) {
      if (!/^[^\s"'\\#]+$/.test(word)) throw new DataplaneError('bad-batch-word', `bpftool batch word "${word}" contains whitespace, quotes or #`);
    }
  }
  const argv = ['bpftool', '-j', 'batch', 'file', '-'];
  const result = await runTool(host, argv, commands.map((c) => c.join(' ')).join('\n') + '\n');
  let outputs: Array<{ output?: { error?: string } | null }> = [];
  try {
    // bpftool may print a trailing error object after the array; take the array.
    const end = result.stdout.indexOf('}]');
    outputs = JSON.parse(end >= 0 ? result.stdout.slice(0, end + 2) : result.stdout || '[]') as typeof outputs;
  } catch {
    if (result.code === 0) return null;
    throw commandFailed(argv, result);
  }
  const failed = outputs.findIndex((o) => o.output != null && typeof o.output.error === 'string');
  if (failed >= 0) return { index: failed, error: outputs[failed]?.output?.error ?? 'unknown error' };
  if (result.code !== 0) {
    return { index: outputs.length, error: (result.stderr.trim() || `bpftool batch exit code ${String(result.code)}`) };
  }
  return null;
}
