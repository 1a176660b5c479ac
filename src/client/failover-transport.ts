// Several mnat-server front ends of one region behind one HttpTransport: the
// target's origin lists them comma-separated. A client sticks to one front
// end (picked at random, so a fleet spreads over them; or the first, when the
// list is already in the order to try, as DNS-SD's SRV order is) and moves to
// the next when a request fails in transport or is answered 503 (that front
// end cannot reach etcd); the watcher client's own retry (exponential backoff,
// full jitter) then goes to the next front end with the same watcher id,
// which every front end of the region knows. A push stream that breaks is
// followed by a request (establish-subscription), which moves on if the front
// end is gone. A host name with several addresses needs none of this: Node
// and curl try each address when connecting.
//
// With `rediscover` (DNS-SD) the list itself is looked up again once no front
// end has answered for a while, and then with backoff while none does: a
// region whose front ends were replaced is found without a restart, and the
// client keeps its watcher id; `onChanged` lets it try the new list at once.
// Kept small: it is in the router's QuickJS bundle.
import { RequestInterrupted, type Host, type HttpTarget, type HttpTransport, type TimerHandle } from '../host/host.ts';
import { createBackoff } from '../core/backoff.ts';

export interface ServerListOptions {
  /** Start at the first server, not a random one: the list is in the order to try (DNS-SD). */
  readonly inOrder?: boolean;
  /** Look the list up again after no server answered for afterMs (then with backoff while none does). */
  readonly rediscover?: { readonly afterMs: number; lookup(): Promise<string[]> };
  /** Called after a lookup changed the list (the watcher client then retries at once). */
  readonly onChanged?: () => void;
}

/**
 * The same servers in any order: DNS-SD hands out SRV records of equal
 * priority shuffled, so a new lookup's order alone is no change.
 */
export const sameServers = (a: readonly string[], b: readonly string[]): boolean => `${[...a].sort()}` === `${[...b].sort()}`;

export function serverTransport(host: Host, target: HttpTarget, options: ServerListOptions = {}): HttpTransport {
  const open = (origin: string): HttpTransport => host.httpTransport({ ...target, origin });
  let origins = target.origin.split(',');
  let all = origins.map(open);
  let at = options.inOrder ? 0 : (Math.random() * all.length) | 0;
  let closed = false;
  /** Armed (or looking) while no server answers; null once one does. */
  let unanswered: TimerHandle | null = null;
  /** The server that failed last, until one answers: a new list does not start there. */
  let lastFailed: string | null = null;
  const backoff = createBackoff({ initialMs: 1000, maxMs: 60_000 });

  const arm = (ms: number): void => void (unanswered = host.setTimeout(() => void lookAgain(), ms));
  const answered = (): void => {
    if (unanswered !== null) host.clearTimeout(unanswered);
    unanswered = null;
    lastFailed = null;
    backoff.reset();
  };
  const notAnswered = (): void => {
    if (options.rediscover && unanswered === null && !closed) arm(options.rediscover.afterMs);
  };

  async function lookAgain(): Promise<void> {
    let next: string[] | null = null;
    try {
      next = await options.rediscover!.lookup();
    } catch (err) {
      host.log.warn('DNS-SD: looking the servers up again failed; the current ones stay', { error: (err as Error).message });
    }
    if (closed) return;
    if (next && next.length > 0 && !sameServers(next, origins)) {
      replace(next);
      options.onChanged?.();
    }
    if (unanswered !== null) arm(backoff.next());
  }

  /**
   * The new list; servers on both keep their connection, the others are
   * closed. The client stays on its server if the new list has it and it is
   * not the one that just failed (a list of one wraps around to itself);
   * otherwise it starts at the first server that did not just fail.
   */
  function replace(next: string[]): void {
    host.log.info('DNS-SD: the servers changed', { from: origins.join(','), to: next.join(',') });
    const current = origins[at] as string;
    const stay = current === lastFailed ? -1 : next.indexOf(current);
    const known = new Map(origins.map((origin, i) => [origin, all[i] as HttpTransport]));
    all = next.map((origin) => known.get(origin) ?? open(origin));
    for (const [origin, transport] of known) if (!next.includes(origin)) transport.close();
    origins = next;
    at = stay >= 0 ? stay : Math.max(0, next.findIndex((origin) => origin !== lastFailed));
  }

  return {
    request(req) {
      const i = at;
      const origin = origins[i] as string;
      // Move on from front end i (unless another failure or a new list did already).
      const failed = (): void => {
        lastFailed = origin;
        if (at === i && origins[i] === origin) at = (i + 1) % all.length;
        notAnswered();
      };
      return (all[i] as HttpTransport).request(req).then(
        (res) => (res.status === 503 ? failed() : answered(), res),
        (err: unknown) => {
          // A stop signal to our process group says nothing about this front end.
          if (!(err instanceof RequestInterrupted)) failed();
          throw err;
        },
      );
    },
    stream: (req, h) => (all[at] as HttpTransport).stream(req, h),
    close: () => {
      closed = true;
      answered();
      all.forEach((t) => t.close());
    },
  };
}
