// Liveness of the watchers one front end is home for. A refresh is a local,
// O(1) move to the tail of a refresh order (the state machine's own
// RefreshOrder); nothing is written to etcd. The front end finds the
// watchers silent for the expiry window at the head and writes one expiry
// entry for all of them; a refresh of a watcher homed elsewhere becomes a
// claim (batched by the store), so a client that moved to this front end is
// not expired by its old home.
import { RefreshOrder } from '../state/refresh-order.ts';

interface Node {
  readonly id: string;
  last: number;
  prev: Node | null;
  next: Node | null;
}

export class LivenessTable {
  private readonly nodes = new Map<string, Node>();
  private readonly order = new RefreshOrder<Node>();
  /** Ids handed out by takeDue whose expiry is not applied yet (id → last refresh). */
  private readonly expiring = new Map<string, number>();

  constructor(readonly expiryMs: number) {}

  get size(): number {
    return this.nodes.size + this.expiring.size;
  }

  has(id: string): boolean {
    return this.nodes.has(id) || this.expiring.has(id);
  }

  /** This front end became the watcher's home; its window starts at `lastMs`. */
  track(id: string, lastMs: number): void {
    this.expiring.delete(id);
    const n = this.nodes.get(id);
    if (n) {
      n.last = Math.max(n.last, lastMs);
      this.order.moveToTail(n);
      return;
    }
    const node: Node = { id, last: lastMs, prev: null, next: null };
    this.nodes.set(id, node);
    this.order.pushTail(node);
  }

  /** The watcher is gone or lives elsewhere now. */
  untrack(id: string): void {
    this.expiring.delete(id);
    const n = this.nodes.get(id);
    if (!n) return;
    this.order.remove(n);
    this.nodes.delete(id);
  }

  /** A refresh; false when this front end is not the watcher's home (the caller claims it). */
  refresh(id: string, nowMs: number): boolean {
    const n = this.nodes.get(id);
    if (n) {
      n.last = nowMs;
      this.order.moveToTail(n);
      return true;
    }
    if (this.expiring.has(id)) {
      // Refreshed while its expiry is on the way: keep it if the expiry fails or loses the race.
      this.track(id, nowMs);
      return true;
    }
    return false;
  }

  /** Watchers silent for the expiry window at nowMs (at most `max`); they wait in `expiring` until applied or given back. */
  takeDue(nowMs: number, max: number): string[] {
    const out: string[] = [];
    for (let n = this.order.head; n && n.last + this.expiryMs <= nowMs && out.length < max; n = this.order.head) {
      this.order.remove(n);
      this.nodes.delete(n.id);
      this.expiring.set(n.id, n.last);
      out.push(n.id);
    }
    return out;
  }

  /** Up to `max` ids taken by takeDue whose expiry is not applied yet (a failed write leaves them here to be sent again). */
  pendingExpiries(max: number): string[] {
    const out: string[] = [];
    for (const id of this.expiring.keys()) {
      if (out.length >= max) break;
      out.push(id);
    }
    return out;
  }

  /** Forgets every watcher `keep` rejects (after a reload: those no longer homed here). */
  retain(keep: (id: string) => boolean): void {
    for (const id of [...this.nodes.keys(), ...this.expiring.keys()]) if (!keep(id)) this.untrack(id);
  }

  /** When the next watcher's window ends, or null. */
  nextDeadlineMs(): number | null {
    return this.order.head ? this.order.head.last + this.expiryMs : null;
  }

  /** Every tracked watcher gets a fresh window (a front end restarting, or loading a snapshot). */
  restartAll(nowMs: number): void {
    for (let n = this.order.head; n; n = n.next) n.last = nowMs;
  }
}
