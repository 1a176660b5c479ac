// The order in which a front end applies log entries, and when. Entries are
// applied one after another in arrival order, with the event loop let through
// once a slice of work has run for `sliceMs`: etcd may hand over thousands of
// entries at once (a busy region, a watch resumed after a stall), and applying
// them in one go held a 10^6 front end's loop 0.3-0.6 s (profiled). The leader
// also builds region snapshots in steps, and the replica must not change under
// it: while a build holds the gate, entries wait and are applied after it.

export interface ApplyGateOptions {
  /** How long one slice of waiting work may run before the event loop gets a turn. */
  readonly sliceMs?: number;
  readonly clock?: () => number;
  /** Runs the rest later (setImmediate: after the I/O that waits). */
  readonly defer?: (fn: () => void) => void;
}

export class ApplyGate {
  private readonly queue: Array<() => void> = [];
  private head = 0;
  private held = false;
  private draining = false;
  /** When the current slice began; null once the event loop turned. */
  private sliceStart: number | null = null;
  private readonly sliceMs: number;
  private readonly clock: () => number;
  private readonly defer: (fn: () => void) => void;

  constructor(options: ApplyGateOptions = {}) {
    this.sliceMs = options.sliceMs ?? 20;
    this.clock = options.clock ?? (() => performance.now());
    this.defer = options.defer ?? ((fn) => void setImmediate(fn));
  }

  /** Whether a build is holding the log now. */
  get holding(): boolean {
    return this.held;
  }

  /** Work given to run() and not applied yet (held, or waiting for its slice). */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Applies now when nothing waits and nothing holds; else after what came before, in order. */
  run(apply: () => void): void {
    this.queue.push(apply);
    this.drain();
  }

  /** Holds application while `build` runs, then applies what waited; returns build's value and how much waited. */
  async hold<T>(build: () => Promise<T>): Promise<{ value: T; waited: number }> {
    if (this.held) throw new Error('a snapshot is already being built');
    this.held = true;
    try {
      const value = await build();
      return { value, waited: this.waiting };
    } finally {
      this.held = false;
      // Should one of them start another build, the rest wait for it too (drain stops while held).
      this.drain();
    }
  }

  private drain(): void {
    if (this.draining || this.held || this.head === this.queue.length) return;
    this.draining = true;
    // A slice spans every run() until the event loop turns (several watch batches may arrive in one turn).
    if (this.sliceStart === null) {
      this.sliceStart = this.clock();
      this.endSliceLater();
    }
    try {
      while (this.head < this.queue.length && !this.held) {
        if (this.clock() - this.sliceStart >= this.sliceMs) return;
        const apply = this.queue[this.head]!;
        this.queue[this.head++] = noop; // let it be collected
        apply();
      }
    } finally {
      // Also after a piece of work that threw: the rest goes on in the next slice.
      this.draining = false;
      if (this.head === this.queue.length || this.head > 4096) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
    }
  }

  private endSliceLater(): void {
    this.defer(() => {
      this.sliceStart = null;
      this.drain();
    });
  }
}

const noop = (): void => {};
