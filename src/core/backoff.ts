// Exponential backoff with full jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"): each delay is uniform in [0, min(max, initial*2^n)],
// so a fleet of CPEs that lost the server at once does not reconnect in step.

export interface BackoffOptions {
  initialMs?: number; // default 500
  maxMs?: number; // default 30 000
  random?: () => number; // [0,1), injectable for tests
}

export interface Backoff {
  /** The next delay in ms; grows until reset(). */
  next(): number;
  reset(): void;
}

export function createBackoff(opts: BackoffOptions = {}): Backoff {
  const initial = Math.max(1, opts.initialMs ?? 500);
  const max = Math.max(initial, opts.maxMs ?? 30_000);
  const random = opts.random ?? Math.random;
  let attempt = 0;
  return {
    next() {
      const ceiling = Math.min(max, initial * Math.pow(2, Math.min(attempt, 30)));
      attempt++;
      // Never 0: a tight reconnect loop is what this exists to prevent.
      return Math.max(1, Math.floor(random() * ceiling));
    },
    reset() {
      attempt = 0;
    },
  };
}
