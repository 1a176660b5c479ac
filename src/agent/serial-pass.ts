// One pass at a time. A request while a pass runs folds into one more pass
// after it, however many arrive; a request with a delay waits (and absorbs the
// requests made meanwhile). With a backoff, a pass that reports failure runs
// again after the next delay, and any request ends that wait at once. Both
// agents' reconcile, the device watch, the snooping-table reader and the
// watcher client's PUT run through it.
import type { Backoff } from '../core/backoff.ts';
import type { Host, TimerHandle } from '../host/host.ts';

export interface SerialPassOptions {
  /** Retry a pass that returned false after these delays (reset by a pass that did not fail). */
  readonly backoff?: Backoff;
  /** Told the delay of each retry (for the log). */
  readonly onRetry?: (ms: number) => void;
  /** After a pass that no other pass follows at once. */
  readonly after?: () => void;
  /** A safety net for missed events: after each pass, another one this many ms later (asked each time). */
  readonly safetyMs?: () => number;
  /** Called once when a pass is still running after stallMs: a tool that never returns holds every later pass. */
  readonly onStall?: () => void;
  readonly stallMs?: number;
}

export interface SerialPass {
  /** A pass now, or after delayMs; while one runs, one more after it. */
  request(delayMs?: number): void;
  /** True while a pass runs. */
  busy(): boolean;
  /** Resolves once no pass runs and none is queued behind it (a retry wait or a delay is not queued). */
  idle(): Promise<void>;
  /** No more passes; a waiting retry, safety pass or delayed request is dropped. */
  stop(): void;
}

export function createSerialPass(host: Host, pass: () => Promise<boolean | void>, opts: SerialPassOptions = {}): SerialPass {
  const { backoff } = opts;
  let running = false;
  let again = false;
  let stopped = false;
  let timer: TimerHandle | null = null;
  let retrying = false; // the timer is a retry wait, which a request ends
  let safety: TimerHandle | null = null;
  let current: Promise<void> = Promise.resolve();

  const wait = (ms: number, retry: boolean): void => {
    retrying = retry;
    timer = host.setTimeout(run, ms);
  };

  const request = (delayMs = 0): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (timer) {
      if (!retrying) return;
      host.clearTimeout(timer);
      timer = null;
    }
    if (delayMs > 0) wait(delayMs, false);
    else run();
  };

  function run(): void {
    timer = null;
    running = true;
    const watchdog = opts.onStall ? host.setTimeout(opts.onStall, opts.stallMs ?? 20_000) : null;
    current = (async () => {
      let ok: boolean | void = undefined;
      try {
        ok = await pass();
      } finally {
        if (watchdog) host.clearTimeout(watchdog);
        running = false;
        if (!stopped) {
          if (ok === false && backoff) {
            const ms = backoff.next();
            opts.onRetry?.(ms);
            wait(ms, true);
          } else backoff?.reset();
          if (again) {
            again = false;
            request();
          } else {
            if (opts.safetyMs) {
              if (safety) host.clearTimeout(safety);
              safety = host.setTimeout(() => {
                safety = null;
                request();
              }, opts.safetyMs());
            }
            opts.after?.();
          }
        }
      }
    })();
  }

  return {
    request,
    busy: () => running,
    async idle() {
      while (running) await current.catch(() => undefined);
    },
    stop() {
      stopped = true;
      again = false;
      for (const t of [timer, safety]) if (t) host.clearTimeout(t);
      timer = safety = null;
    },
  };
}
