// Watchers in refresh order (least recently refreshed first) as an intrusive
// doubly linked list: a refresh moves one entry to the tail in O(1) and expiry
// only ever looks at the head.

export interface Linked<T> {
  prev: T | null;
  next: T | null;
}

export class RefreshOrder<T extends Linked<T>> {
  head: T | null = null;
  private tail: T | null = null;

  /** Appends an entry that is in no list. */
  pushTail(w: T): void {
    w.prev = this.tail;
    w.next = null;
    if (this.tail) this.tail.next = w;
    else this.head = w;
    this.tail = w;
  }

  remove(w: T): void {
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = w.next = null;
  }

  /** A refresh: the entry becomes the youngest. */
  moveToTail(w: T): void {
    if (this.tail === w) return;
    this.remove(w);
    this.pushTail(w);
  }
}
