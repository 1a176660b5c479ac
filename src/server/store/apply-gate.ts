// The leader builds a region snapshot in steps, letting its event loop run in
// between (10⁶ watchers take seconds, which requests, keep-alives and probes
// cannot wait): the replica must not change under it, so log entries that
// arrive meanwhile wait here and are applied after it, in arrival order.

export class ApplyGate {
  private held: Array<() => void> | null = null;

  /** Whether a build is holding the log now. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** Applies now, or once the build under way is done. */
  run(apply: () => void): void {
    if (this.held) this.held.push(apply);
    else apply();
  }

  /** Holds application while `build` runs, then applies what waited; returns build's value and how much waited. */
  async hold<T>(build: () => Promise<T>): Promise<{ value: T; waited: number }> {
    if (this.held) throw new Error('a snapshot is already being built');
    const held: Array<() => void> = [];
    this.held = held;
    try {
      return { value: await build(), waited: held.length };
    } finally {
      this.held = null;
      // Through run(): should one of them start another build, the rest wait for it too.
      for (const apply of held) this.run(apply);
    }
  }
}
