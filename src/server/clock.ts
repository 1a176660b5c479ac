// The server's clock for watcher expiry, grace periods and idle timers: the
// wall clock at start, advanced by the monotonic clock. A step of the wall
// clock (NTP correcting a wrong clock, a VM resumed or migrated) otherwise
// expired every watcher at once (forward: each one's last refresh looked hours
// old) or held them and every grace period for as long as the step (backward).
// Times kept in the journal are in this clock; after a restart it starts from
// the wall clock again (every watcher gets a fresh window then anyway). The
// Date header, certificate expiry and log timestamps stay on the wall clock.

export interface ServerClock {
  /** Milliseconds, like Date.now(), that never jump. */
  now(): number;
  /** How far the wall clock has moved away from now() since the start (a step). */
  wallOffset(): number;
}

export function createServerClock(wall: () => number = Date.now, monotonic: () => number = () => performance.now()): ServerClock {
  const base = wall() - monotonic();
  const now = (): number => Math.floor(base + monotonic());
  return { now, wallOffset: () => wall() - now() };
}

/** The one clock of this process. */
export const serverClock = createServerClock();
export const serverNow = serverClock.now;
