// The store's clock: calls tick() when the next expiry or grace end is due,
// and at least once a second (timers are not exact; ticks are cheap).
import type { Logger } from '../../host/host.ts';
import { serverClock, type ServerClock } from '../clock.ts';
import { StoreDurabilityError, type MnatStore } from './store.ts';

export function startTicker(store: MnatStore, log: Logger, clock: ServerClock = serverClock): { stop(): void } {
  const now = clock.now;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let offsetSeen = clock.wallOffset();
  const tick = (): void => {
    // Said once per step: expiry and grace keep running on elapsed time (clock.ts).
    const offset = clock.wallOffset();
    if (Math.abs(offset - offsetSeen) > 2000) {
      log.warn('the wall clock jumped; watcher expiry and grace periods go on by elapsed time', { jumpS: Math.round((offset - offsetSeen) / 1000), wallAheadS: Math.round(offset / 1000) });
      offsetSeen = offset;
    }
    store.tick(now()).catch((err: unknown) => {
      // A journal that fails stops the server through onJournalFailure; anything else is a bug to report.
      if (!(err instanceof StoreDurabilityError)) log.error('tick failed', { error: (err as Error)?.stack ?? String(err) });
    });
    const next = store.nextDeadlineMs();
    const delay = next === null ? 1000 : Math.max(10, Math.min(1000, next - now()));
    timer = setTimeout(tick, delay);
  };
  tick();
  return {
    stop() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
