// Writing the region's log (etcd-store.ts): group commit of intents, claims
// and expiries into entries (one put of the log key each, with the entry's
// own key in the same transaction: entry-keys.ts), deflated when large, at
// most MAX_IN_FLIGHT writes at a time; each writer's waiters are answered
// when its entry comes back on the log watch with the replica's results
// (settle), or at once when the entry cannot be written.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Logger } from '../../host/host.ts';
import { EtcdUnavailableError, type EtcdClient } from './etcd-client.ts';
import { entryKey, newWriterId } from './entry-keys.ts';
import type { ExpireBatch, IntentResults, LogEntry } from './etcd-replica.ts';
import { StoreUnavailableError } from './store.ts';

/** Told to clients (503) while changes cannot be made. */
export const UNAVAILABLE_MESSAGE =
  'the region state store (etcd) cannot be reached or has lost its quorum; changes are refused until it recovers (reads still answer from this front end\'s copy); retry later';

/**
 * Told to clients (503) when etcd did not confirm a written entry: it may sit
 * uncommitted in a member's log and be committed once a quorum returns.
 */
export const UNCONFIRMED_MESSAGE =
  'the region state store (etcd) did not confirm this change (it cannot be reached or has lost its quorum); the change may still take effect once etcd recovers: read the state, or retry, later';

/** Largest log entry as JSON (compressed it is far smaller): etcd takes requests up to 1.5 MiB, and a write carries the entry twice (log key, entry key). */
const MAX_ENTRY_BYTES = 512 * 1024;
const MAX_IN_FLIGHT = 8;
/** Claims or expiries per entry. */
export const MAX_IDS_PER_ENTRY = 5000;
/** A written entry that has not come back on the watch this long is answered 503 (it may still apply). */
const APPLY_TIMEOUT_MS = 15_000;
/** Entries longer than this are stored deflated, marked by a leading 'z' (JSON never starts with one). */
const DEFLATE_OVER = 512;

/**
 * An entry as stored. etcd's throughput here is bound by the bytes it
 * replicates (about 5 MB/s of values on a loaded 2-core machine, the same
 * over gRPC as over the gateway), and a batch of intents deflates 6x.
 */
export function encodeEntry(text: string): Buffer | string {
  if (text.length <= DEFLATE_OVER) return text;
  return Buffer.concat([Buffer.from('z'), deflateRawSync(text, { level: 1 })]);
}

export function decodeEntry(value: Buffer): LogEntry {
  const text = value[0] === 0x7a ? inflateRawSync(value.subarray(1)).toString('utf8') : value.toString('utf8');
  return JSON.parse(text) as LogEntry;
}

export interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

interface Queued {
  json: string;
  waiter: Waiter;
}

export interface LogWriterHooks {
  /** etcd answered a write (true) or could not be reached for one (false). */
  available(ok: boolean, why?: string): void;
  /** Whether a claim that could not be written should go out again (the refresh is still unclaimed). */
  stillClaiming(id: string): boolean;
}

export class LogWriter {
  /** etcd writes by kind, for /metrics. */
  readonly writes: Record<string, number> = { intents: 0, claims: 0, expiries: 0, ticks: 0, snapshot: 0, lease: 0 };
  /** Log writes answered, and the seconds they took in all. */
  readonly logWrites = { count: 0, seconds: 0 };
  private queue: Queued[] = [];
  private readonly claims = new Set<string>();
  private readonly pending = new Map<number, { waiters: Array<Waiter | null>; timer: NodeJS.Timeout | null }>();
  private inFlight = 0;
  private seq = 0;
  private flushScheduled = false;
  private closed = false;
  /** This process's entry keys: a restarted front end starts its sequence numbers again. */
  private readonly writerId = newWriterId();

  constructor(
    private readonly client: EtcdClient,
    private readonly prefix: string,
    private readonly logKey: string,
    private readonly frontendId: string,
    private readonly hooks: LogWriterHooks,
    private readonly log: Logger,
  ) {}

  /** An intent (as JSON) for the next entry; the waiter gets its outcome. */
  add(json: string, waiter: Waiter, kind: 'intents' | 'ticks' = 'intents'): void {
    if (kind === 'ticks') this.count('ticks');
    this.queue.push({ json, waiter });
    this.flushSoon();
  }

  /** A claim for the next entry that goes out (the caller decides when: flushSoon). */
  claim(id: string): void {
    this.claims.add(id);
  }

  unclaim(id: string): void {
    this.claims.delete(id);
  }

  /** One expiry entry of its own; `applied` once it came back, `notWritten` when etcd did not take it. */
  expire(batch: ExpireBatch, applied: () => void, notWritten: () => void): void {
    const seq = ++this.seq;
    this.count('expiries');
    this.write(seq, JSON.stringify({ from: this.frontendId, seq, expire: [batch] } satisfies LogEntry), [{ resolve: applied, reject: notWritten }]);
  }

  count(kind: string, n = 1): void {
    this.writes[kind] = (this.writes[kind] ?? 0) + n;
  }

  /** An entry this front end wrote came back on the watch: answer its waiters with the replica's results. */
  settle(seq: number, results: IntentResults): void {
    const slot = this.pending.get(seq);
    if (!slot) return;
    this.pending.delete(seq);
    if (slot.timer) clearTimeout(slot.timer);
    slot.waiters.forEach((w, i) => {
      if (!w) return;
      const r = results[i];
      if (r === null || r === undefined) w.resolve();
      else w.reject(r);
    });
  }

  /** Everything waiting is refused with `err`. */
  close(err: Error): void {
    this.closed = true;
    for (const q of this.queue) q.waiter.reject(err);
    this.queue = [];
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      for (const w of p.waiters) w?.reject(err);
    }
    this.pending.clear();
  }

  flushSoon(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Group commit: everything queued goes into as few entries as fit. */
  private flush(): void {
    while (!this.closed && this.inFlight < MAX_IN_FLIGHT && (this.queue.length > 0 || this.claims.size > 0)) {
      const seq = ++this.seq;
      const parts: string[] = [];
      const waiters: Array<Waiter | null> = [];
      let bytes = 0;
      let taken = 0;
      while (taken < this.queue.length && bytes + (this.queue[taken] as Queued).json.length < MAX_ENTRY_BYTES) {
        const q = this.queue[taken++] as Queued;
        parts.push(q.json);
        waiters.push(q.waiter);
        bytes += q.json.length + 1;
      }
      this.queue = taken === this.queue.length ? [] : this.queue.slice(taken);
      const claims: string[] = [];
      for (const id of this.claims) {
        if (claims.length >= MAX_IDS_PER_ENTRY) break;
        claims.push(id);
      }
      for (const id of claims) this.claims.delete(id);
      if (parts.length === 0 && claims.length === 0) {
        // a single intent larger than an entry cannot happen (bodies are at most 64 KiB); fail it rather than loop
        this.queue.shift()?.waiter.reject(new Error('intent too large for one log entry'));
        continue;
      }
      let text = `{"from":${JSON.stringify(this.frontendId)},"seq":${seq}`;
      if (parts.length > 0) text += `,"intents":[${parts.join(',')}]`;
      if (claims.length > 0) text += `,"claims":${JSON.stringify(claims)}`;
      text += '}';
      if (parts.length > 0) this.count('intents');
      if (claims.length > 0) this.count('claims');
      this.write(seq, text, waiters, () => {
        // not written: the claims go out again with the next entry
        for (const id of claims) if (this.hooks.stillClaiming(id)) this.claims.add(id);
      });
    }
  }

  /** Writes an entry; its waiters are answered by settle() (or here, when it cannot be written). */
  private write(seq: number, text: string, waiters: Array<Waiter | null>, onNotWritten?: () => void): void {
    this.inFlight++;
    const slot = { waiters, timer: null as NodeJS.Timeout | null };
    this.pending.set(seq, slot);
    // Logged once even when sent twice (EtcdClient.txn, repeatable): only the first creates the entry's key.
    const key = entryKey(this.prefix, this.writerId, seq);
    const value = encodeEntry(text);
    const started = performance.now();
    this.client.txn([{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }], [{ put: { key: this.logKey, value } }, { put: { key, value } }], [], { repeatable: true }).then(
      () => {
        this.inFlight--;
        this.logWrites.count++;
        this.logWrites.seconds += (performance.now() - started) / 1000;
        this.hooks.available(true);
        if (this.pending.has(seq)) {
          slot.timer = setTimeout(() => {
            if (!this.pending.delete(seq)) return;
            const late = new StoreUnavailableError('the change was written to etcd but has not come back to this front end yet; it will take effect, retry to see it');
            for (const w of slot.waiters) w?.reject(late);
          }, APPLY_TIMEOUT_MS);
        }
        this.flushSoon();
      },
      (err: unknown) => {
        this.inFlight--;
        if (err instanceof EtcdUnavailableError) this.hooks.available(false, err.message);
        else this.log.error('etcd refused a log entry', { error: (err as Error).message });
        if (this.pending.delete(seq)) {
          const unconfirmed = new StoreUnavailableError(UNCONFIRMED_MESSAGE);
          for (const w of waiters) w?.reject(unconfirmed);
        }
        onNotWritten?.();
        this.flushSoon();
      },
    );
  }
}
