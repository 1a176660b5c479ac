// What the lab benchmarks share outside node:test: a stand-in for the test
// context (the lab helpers register their cleanup with t.after) and the
// nearest-rank percentile the figures are reported in.

/** t.after as in node:test; run() undoes everything, last registered first. */
export function benchCleanup(): { t: { after(fn: () => unknown): void }; run(): Promise<void> } {
  const afters: Array<() => unknown> = [];
  return {
    t: { after: (fn) => void afters.push(fn) },
    run: async () => {
      for (const fn of afters.reverse()) await fn();
    },
  };
}

/** The nearest-rank p-th percentile of xs (NaN when empty). */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
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
