// The store's clock: calls tick() when the next expiry or grace end is due,
// and at least once a second (timers are not exact; ticks are cheap).
import type { Logger } from '../../host/host.ts';
import { StoreDurabilityError, type MnatStore } from './store.ts';

export function startTicker(store: MnatStore, log: Logger, now: () => number = Date.now): { stop(): void } {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const tick = (): void => {
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
