// HTTP/2 sessions with no traffic for a while are closed. Node's session
// timeout (server.setTimeout) does this by refreshing a timer on every frame,
// read and write of every stream, which costs each request a clock read and a
// timer-list move; here a sweep compares each session's byte counters instead,
// so requests pay nothing. A session is destroyed once its counters have not
// moved for idleMs (detected within one sweep period after that).
import type { Http2Session } from 'node:http2';

/** What the sweep reads of a session (Http2Session has it all). */
export interface SweptSession {
  readonly destroyed: boolean;
  readonly socket: { readonly bytesRead?: number; readonly bytesWritten?: number } | null | undefined;
  destroy(): void;
}

interface Seen {
  bytes: number;
  sinceMs: number;
}

export class IdleSessions<S extends SweptSession = Http2Session> {
  private readonly seen = new Map<S, Seen>();

  constructor(
    /** No traffic for this long closes a session. */
    readonly idleMs: number,
  ) {}

  /** The sweep period that keeps the close within a quarter of idleMs (at most 15 s) after the deadline. */
  get sweepMs(): number {
    return Math.min(15_000, Math.max(10, Math.floor(this.idleMs / 4)));
  }

  get size(): number {
    return this.seen.size;
  }

  track(session: S, nowMs: number): void {
    this.seen.set(session, { bytes: bytesOf(session), sinceMs: nowMs });
  }

  forget(session: S): void {
    this.seen.delete(session);
  }

  /** Destroys the sessions idle for idleMs by nowMs; returns how many. */
  sweep(nowMs: number): number {
    let closed = 0;
    for (const [session, seen] of this.seen) {
      if (session.destroyed) {
        this.seen.delete(session);
        continue;
      }
      const bytes = bytesOf(session);
      if (bytes !== seen.bytes) {
        seen.bytes = bytes;
        seen.sinceMs = nowMs;
      } else if (nowMs - seen.sinceMs >= this.idleMs) {
        this.seen.delete(session);
        session.destroy();
        closed++;
      }
    }
    return closed;
  }
}

function bytesOf(session: SweptSession): number {
  const socket = session.socket;
  return (socket?.bytesRead ?? 0) + (socket?.bytesWritten ?? 0);
}
