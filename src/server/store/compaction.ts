// Compaction off the event loop: a worker thread reads the snapshot and the
// closed journal from disk, replays them with the state machine's own replay
// code (MnatState.restore + applyChange, exactly what a restart does) and
// writes the next snapshot atomically (temp file, fsync, rename, directory
// fsync). The main thread never serialises the whole state; it only renames
// journals (journal.ts) and waits for the worker's answer.
//
// The worker's entry is a module that calls runCompactionWorker(): in the
// bundle that is the bundle itself (main.ts checks workerData), from source
// compaction-worker.ts.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { MnatState } from '../state/mnat-state.ts';
import { Pool } from '../state/pool.ts';
import type { MnatStateOptions, StateChange, StateSnapshot } from '../state/state-types.ts';
import { CLOSED_JOURNAL, readJournalFile, readSnapshot, replaceFile, SNAPSHOT, snapshotText, StateCorruptError } from './journal-format.ts';
import type { Fold } from './journal.ts';

/** The state machine's options as plain JSON (a Pool cannot cross to a worker; its definition can). */
export type StateConfig = Omit<MnatStateOptions, 'pool' | 'newWatcherId'> & { poolDefinition: unknown };

export function stateConfigOf(options: MnatStateOptions): StateConfig {
  const { pool, newWatcherId: _ignored, ...rest } = options;
  return { ...rest, poolDefinition: pool.definition };
}

export function stateOptionsOf(config: StateConfig): MnatStateOptions {
  const { poolDefinition, ...rest } = config;
  return { ...rest, pool: Pool.fromJson(poolDefinition) };
}

/** Marks the worker's messages; main.ts runs the worker when it sees this in workerData. */
export const COMPACTION_WORKER = 'mnat-compaction';

interface FoldRequest {
  role: typeof COMPACTION_WORKER;
  dir: string;
  generation: number;
  config: StateConfig;
}

/**
 * Writes snapshot generation+1 = snapshot `generation` + the closed journal of
 * `generation`. Synchronous (it runs in the worker, or in tests). Returns the
 * snapshot's size in bytes.
 */
export function foldClosedJournal(dir: string, generation: number, config: StateConfig): number {
  const { snapshot, generation: have } = readSnapshot<StateSnapshot>(dir);
  if (have !== generation) throw new StateCorruptError(`compaction of generation ${generation}: ${join(dir, SNAPSHOT)} is generation ${have}`);
  const closedPath = join(dir, CLOSED_JOURNAL);
  const closed = readJournalFile<StateChange>(closedPath);
  if (!closed || closed.generation !== generation) throw new StateCorruptError(`compaction of generation ${generation}: ${closedPath} is missing or of generation ${closed?.generation}`);
  const options = stateOptionsOf(config);
  const state = snapshot ? MnatState.restore(snapshot, options) : new MnatState(options);
  for (const record of closed.records) state.applyChange(record);
  const text = snapshotText(generation + 1, state.snapshot());
  replaceFile(dir, join(dir, SNAPSHOT), text);
  return Buffer.byteLength(text);
}

/**
 * Lowers this thread's scheduling priority (nice 19, Linux: a thread is
 * named by its id in /proc/thread-self), so that on a small machine the
 * server's event loop gets the CPU first and the compaction the rest.
 */
function yieldToTheServer(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
  } catch {
    // not Linux, or not allowed: compaction runs at the server's priority
  }
}

/** The worker thread's body: one fold, then an answer to the parent. */
export function runCompactionWorker(): void {
  const request = workerData as FoldRequest;
  yieldToTheServer();
  try {
    const bytes = foldClosedJournal(request.dir, request.generation, request.config);
    parentPort?.postMessage({ ok: true, bytes });
  } catch (err) {
    parentPort?.postMessage({ ok: false, error: (err as Error).message, code: (err as NodeJS.ErrnoException).code });
  }
}

/** Whether this thread is a compaction worker (the entry module then runs runCompactionWorker()). */
export function isCompactionWorker(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { role?: unknown }).role === COMPACTION_WORKER;
}

/** The default worker entry (running from source); the bundle passes its own URL. */
export const DEFAULT_WORKER_ENTRY = new URL('./compaction-worker.ts', import.meta.url);

/** A Fold that runs in a worker thread started from `entry`. */
export function workerFold(config: StateConfig, entry: URL = DEFAULT_WORKER_ENTRY): Fold {
  return (dir, generation) =>
    new Promise<void>((resolve, reject) => {
      const request: FoldRequest = { role: COMPACTION_WORKER, dir, generation, config };
      const worker = new Worker(entry, { workerData: request });
      let answered = false;
      worker.once('message', (m: { ok: boolean; error?: string; code?: string }) => {
        answered = true;
        if (m.ok) resolve();
        else reject(Object.assign(new Error(m.error ?? 'compaction failed'), { code: m.code }));
      });
      worker.once('error', (err) => {
        answered = true;
        reject(err);
      });
      worker.once('exit', (code) => {
        if (!answered) reject(new Error(`compaction worker exited with code ${code} without an answer`));
      });
    });
}
