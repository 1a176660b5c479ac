// What the lab benchmarks share outside node:test: a stand-in for the test
// context (the lab helpers register their cleanup with t.after) and the
// nearest-rank percentile the figures are reported in.
import { ClientTable, DEFAULT_HTTP_LIMITS, Refusals } from '../src/server/http/limits.ts';

/** The clean-ups not yet done, of every benchCleanup() in this process. */
const pending = new Set<() => Promise<void>>();
let signalsHooked = false;

/**
 * Ctrl-C or a test runner's timeout: finish every pending clean-up, then exit
 * (Node's default for these signals skips even 'exit' hooks). On every signal,
 * not once: timeout(1) signals the process and then its group, and a second
 * signal must not kill the bench halfway through its clean-up.
 */
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => void Promise.allSettled([...pending].map((run) => run())).finally(() => process.exit(130)));
  }
}

/** t.after as in node:test; run() undoes everything, last registered first. */
export function benchCleanup(): { t: { after(fn: () => unknown): void }; run(): Promise<void> } {
  const afters: Array<() => unknown> = [];
  // One run, however many ask (a signal and the bench's own finally): a second caller waits for it to end.
  let running: Promise<void> | null = null;
  const run = (): Promise<void> =>
    (running ??= (async () => {
      try {
        for (const fn of afters.splice(0).reverse()) await fn();
      } finally {
        pending.delete(run);
      }
    })());
  pending.add(run);
  hookSignals();
  return { t: { after: (fn) => void afters.push(fn) }, run };
}

/** The nearest-rank p-th percentile of xs (NaN when empty). */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

/**
 * Ticks every `tickMs` and tells `onTick` how long the event loop was held
 * since the tick before (the gap less tickMs; GC pauses included). The timer
 * does not keep the process alive; call the returned function to stop it.
 */
export function watchLoopHolds(tickMs: number, onTick: (heldMs: number) => void): () => void {
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    onTick(now - last - tickMs);
    last = now;
  }, tickMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Heap in use after full collections (needs node --expose-gc; exits 2 without it). */
export function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.error('run with node --expose-gc');
    process.exit(2);
  }
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** A client table with no per-client connection or body limits: a bench's load comes from one address. */
export function unlimitedClients(): ClientTable {
  return new ClientTable({ ...DEFAULT_HTTP_LIMITS, maxConnectionsPerClient: 0, maxBodyBufferPerClient: 0, maxBodyBufferPerConnection: 0 }, new Refusals());
}

/** Flags that turn the per-client watcher quotas off (a bench or test makes its watchers from one address). */
export const NO_WATCHER_QUOTAS = ['--max-watchers-per-address', '0', '--new-watchers-per-minute', '0'];
