// Change delivery: yang-push on-change subscriptions over SSE (RFC 8639,
// RFC 8641, RFC 8650) and long-polling GETs, both filtered to one watcher's
// assigned-channels. The server calls deliver() only after the changes are
// durable, so nothing a client was told can be lost by a crash.
import { serverNow } from '../clock.ts';
import { diffKeyedList, encodeKey } from '../../protocol/yang-patch.ts';
import { formatSseEvent } from '../../protocol/sse.ts';
import type { AnyResponse } from '../http/request.ts';

export interface WatcherView {
  /** Whether the watcher still exists. */
  exists(id: string): boolean;
  /** RFC 7951 mapped-sg entries of the watcher's assigned-channels. */
  entries(id: string): Array<Record<string, unknown>>;
  /** ETag of GET …/assigned-channels/watcher=ID. */
  etag(id: string): string;
}

interface Subscription {
  id: number;
  watcherId: string;
  /** Who established it: the client certificate, or without one the client address (per-client limit). */
  client: string;
  owner: string | undefined;
  /** The connection that established it (delete-subscription without a client certificate). */
  connection: unknown;
  /** Unguessable part of the stream URI: the numeric id alone must not open someone's stream. */
  token: string;
  res: AnyResponse | null;
  last: Array<Record<string, unknown>>;
  createdMs: number;
  patchSeq: number;
}

interface Waiter {
  watcherId: string;
  etag: string;
  finish: (outcome: 'changed' | 'timeout' | 'gone') => void;
}

const UNATTACHED_TTL_MS = 60_000;
const KEEPALIVE_MS = 15_000;

export class PushHub {
  private readonly subs = new Map<number, Subscription>();
  private readonly byWatcher = new Map<string, Set<Subscription>>();
  private readonly byClient = new Map<string, number>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private nextId = 1;
  private readonly timer: ReturnType<typeof setInterval>;
  readonly stats = { notificationsSent: 0, longPollsWaiting: 0 };

  /** Called when a stream starts (for request counting). */
  onAttach: (() => void) | null = null;

  constructor(private readonly view: WatcherView) {
    this.timer = setInterval(() => this.housekeeping(), KEEPALIVE_MS);
    this.timer.unref();
  }

  get subscriberCount(): number {
    let n = 0;
    for (const s of this.subs.values()) if (s.res) n++;
    return n;
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  /** Subscriptions a watcher holds (established, with or without a stream). */
  countFor(watcherId: string): number {
    return this.byWatcher.get(watcherId)?.size ?? 0;
  }

  /** Subscriptions a client holds (see Subscription.client). */
  countForClient(client: string): number {
    return this.byClient.get(client) ?? 0;
  }

  create(watcherId: string, owner: string | undefined, client: string, connection: unknown, token: string, nowMs: number): number {
    // uint32 ids that do not repeat while the process lives
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const sub: Subscription = { id, watcherId, client, owner, connection, token, res: null, last: [], createdMs: nowMs, patchSeq: 0 };
    this.subs.set(id, sub);
    this.byClient.set(client, this.countForClient(client) + 1);
    let set = this.byWatcher.get(watcherId);
    if (!set) this.byWatcher.set(watcherId, (set = new Set()));
    set.add(sub);
    return id;
  }

  /** The subscription if it exists and belongs to this requester. */
  /** The subscription behind a stream URI (id and token), if it belongs to this requester. */
  lookup(id: number, token: string, owner: string | undefined): { watcherId: string; attached: boolean } | null {
    const sub = this.subs.get(id);
    if (!sub || sub.token !== token || (sub.owner !== undefined && sub.owner !== owner)) return null;
    return { watcherId: sub.watcherId, attached: sub.res !== null };
  }

  /** Starts the SSE stream of a subscription: push-update with the full contents, then changes. */
  attach(id: number, res: AnyResponse): void {
    const sub = this.subs.get(id);
    if (!sub) return;
    sub.res = res;
    this.onAttach?.();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    sub.last = this.view.entries(sub.watcherId);
    this.send(sub, {
      'ietf-yang-push:push-update': {
        id: sub.id,
        'datastore-contents': {
          'ietf-mnat:assigned-channels': { watcher: [{ id: sub.watcherId, 'mapped-sg': sub.last }] },
        },
      },
    });
    res.on('close', () => this.remove(sub, false));
  }

  /**
   * delete-subscription; false when there is no such subscription for this
   * requester: the same client certificate, or without one the same connection
   * (RFC 8639 §2.4.4: only the subscriber that established it).
   */
  delete(id: number, owner: string | undefined, connection: unknown): boolean {
    const sub = this.subs.get(id);
    if (!sub) return false;
    if (sub.owner !== undefined ? sub.owner !== owner : sub.connection !== connection) return false;
    this.remove(sub, true);
    return true;
  }

  waitingFor(watcherId: string): number {
    return this.waiters.get(watcherId)?.size ?? 0;
  }

  /** Registers a long poll; `finish` is called exactly once. */
  wait(watcherId: string, etag: string, timeoutMs: number, finish: (outcome: 'changed' | 'timeout' | 'gone') => void): () => void {
    let done = false;
    const waiter: Waiter = {
      watcherId,
      etag,
      finish: (outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const set = this.waiters.get(watcherId);
        set?.delete(waiter);
        if (set && set.size === 0) this.waiters.delete(watcherId);
        this.stats.longPollsWaiting--;
        finish(outcome);
      },
    };
    const timer = setTimeout(() => waiter.finish('timeout'), timeoutMs);
    let set = this.waiters.get(watcherId);
    if (!set) this.waiters.set(watcherId, (set = new Set()));
    set.add(waiter);
    this.stats.longPollsWaiting++;
    // cancel: the client went away
    return () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      set?.delete(waiter);
      if (set && set.size === 0) this.waiters.delete(watcherId);
      this.stats.longPollsWaiting--;
    };
  }

  /** Watchers whose assigned-channels changed (durably), in notification order. */
  deliver(ids: readonly string[]): void {
    for (const watcherId of ids) {
      if (!this.view.exists(watcherId)) {
        this.watcherGone(watcherId);
        continue;
      }
      const subs = this.byWatcher.get(watcherId);
      if (subs) {
        for (const sub of subs) {
          if (!sub.res) continue;
          const now = this.view.entries(watcherId);
          const edits = diffKeyedList(
            `/ietf-mnat:assigned-channels/watcher=${encodeKey(watcherId)}/mapped-sg`,
            'ietf-mnat:mapped-sg',
            sub.last,
            now,
          );
          sub.last = now;
          if (edits.length === 0) continue;
          sub.patchSeq++;
          // The container comes from `uses ypatch:yang-patch` in ietf-yang-push (RFC 8641), so it is
          // in ietf-yang-push's namespace, the parent's: unqualified in RFC 7951 JSON.
          this.send(sub, {
            'ietf-yang-push:push-change-update': {
              id: sub.id,
              'datastore-changes': { 'yang-patch': { 'patch-id': `${sub.id}-${sub.patchSeq}`, edit: edits } },
            },
          });
        }
      }
      const waiting = this.waiters.get(watcherId);
      if (waiting) {
        const etag = this.view.etag(watcherId);
        for (const w of Array.from(waiting)) if (w.etag !== etag) w.finish('changed');
      }
    }
  }

  /** The watcher expired or was removed: terminate its subscriptions, release its long polls. */
  watcherGone(watcherId: string): void {
    const subs = this.byWatcher.get(watcherId);
    if (subs) {
      for (const sub of Array.from(subs)) {
        if (sub.res) {
          this.send(sub, {
            'ietf-subscribed-notifications:subscription-terminated': {
              id: sub.id,
              reason: 'ietf-subscribed-notifications:filter-unavailable',
            },
          });
        }
        this.remove(sub, true);
      }
    }
    const waiting = this.waiters.get(watcherId);
    if (waiting) for (const w of Array.from(waiting)) w.finish('gone');
  }

  /** Graceful shutdown: end every stream and long poll. */
  closeAll(): void {
    clearInterval(this.timer);
    for (const sub of Array.from(this.subs.values())) this.remove(sub, true);
    for (const set of Array.from(this.waiters.values())) for (const w of Array.from(set)) w.finish('timeout');
  }

  private send(sub: Subscription, notification: Record<string, unknown>): void {
    if (!sub.res) return;
    const message = { 'ietf-restconf:notification': { eventTime: new Date().toISOString(), ...notification } };
    writeText(sub.res, formatSseEvent(JSON.stringify(message)));
    this.stats.notificationsSent++;
  }

  private remove(sub: Subscription, endStream: boolean): void {
    if (!this.subs.has(sub.id)) return;
    this.subs.delete(sub.id);
    const held = this.countForClient(sub.client) - 1;
    if (held > 0) this.byClient.set(sub.client, held);
    else this.byClient.delete(sub.client);
    const set = this.byWatcher.get(sub.watcherId);
    set?.delete(sub);
    if (set && set.size === 0) this.byWatcher.delete(sub.watcherId);
    const res = sub.res;
    sub.res = null;
    if (res && endStream && !res.writableEnded) res.end();
  }

  private housekeeping(): void {
    const now = serverNow();
    for (const sub of Array.from(this.subs.values())) {
      if (sub.res) {
        // An SSE comment keeps middleboxes from timing the stream out and finds dead peers.
        if (!sub.res.writableEnded) writeText(sub.res, ': keep-alive\n\n');
      } else if (now - sub.createdMs > UNATTACHED_TTL_MS) {
        this.remove(sub, false);
      }
    }
  }
}

function writeText(res: AnyResponse, text: string): void {
  (res as unknown as { write(chunk: string): boolean }).write(text);
}
