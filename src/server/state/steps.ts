// Work done in steps (a generator that yields between them): run at once, or
// with the event loop let through between steps (a snapshot of 10⁶ watchers).

/** Runs every step now; returns the result. */
export function runSteps<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Runs the steps with `pause` awaited between them (e.g. a setImmediate turn). */
export async function runStepsPaused<T>(steps: Generator<void, T, void>, pause: () => Promise<void>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await pause();
  }
}
