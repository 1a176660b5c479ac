// Per-client watcher quotas, kept in the state machine rather than in a front
// end, so that a store which replicates the state (the same intents applied in
// log order everywhere) enforces them region-wide:
// - how many watchers one client holds: a client with a certificate is its
//   certificate (the watcher's owner), without one its address (the
//   watcher's creator, as the front end saw it);
// - how fast one client may create watchers: a token bucket per client whose
//   refill is computed from the watcher-created records' times, so replaying
//   the records (journal, snapshot, another replica) gives the same buckets.
import { MnatError, type BucketTuple, type QuotaOptions } from './state-types.ts';

export type { BucketTuple, QuotaOptions } from './state-types.ts';

interface Bucket {
  tokens: number;
  at: number;
}

export class WatcherQuotas {
  private readonly perAddress: number;
  private readonly perOwner: number;
  /** Tokens per ms; 0: no rate limit. */
  private readonly rate: number;
  private readonly burst: number;
  /** Watchers per creator address (watchers without an owner only). */
  private readonly byCreator = new Map<string, number>();
  /** Least recently used first: a bucket untouched for burst/rate is full and can go. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: QuotaOptions) {
    this.perAddress = Math.max(0, Math.floor(options.maxWatchersPerAddress ?? 0));
    this.perOwner = Math.max(0, Math.floor(options.maxWatchersPerOwner ?? 0));
    this.rate = Math.max(0, options.newWatchersPerMinute ?? 0) / 60_000;
    this.burst = Math.max(1, Math.floor(options.newWatcherBurst ?? 10));
  }

  /** Watchers held by a creator address, for tests and stats. */
  heldBy(creator: string): number {
    return this.byCreator.get(creator) ?? 0;
  }

  /** Throws the MnatError that refuses a new watcher for this client at `at`; `owned`: watchers the owner holds. */
  check(owner: string | undefined, creator: string | undefined, owned: number, at: number): void {
    if (owner !== undefined) {
      if (this.perOwner > 0 && owned >= this.perOwner) {
        throw new MnatError('watchers-per-certificate', `this client certificate holds ${owned} watchers, the most one certificate may hold; reuse a watcher id, or let unused ones expire`);
      }
    } else if (creator !== undefined && this.perAddress > 0) {
      const held = this.heldBy(creator);
      if (held >= this.perAddress) {
        throw new MnatError('watchers-per-address', `your address holds ${held} watchers without a client certificate, the most one address may hold; reuse a watcher id, or let unused ones expire`);
      }
    }
    const key = owner ?? creator;
    if (key === undefined || this.rate === 0) return;
    const tokens = this.tokens(key, at);
    if (tokens < 1) {
      const waitS = Math.ceil((1 - tokens) / this.rate / 1000);
      throw new MnatError('new-watcher-rate', `too many new watcher ids from this client; the next one is available in ${waitS} s`, undefined, waitS);
    }
  }

  /** A watcher of this client appeared (+1: created or restored) or went (-1). */
  adjust(owner: string | undefined, creator: string | undefined, delta: 1 | -1): void {
    if (owner !== undefined || creator === undefined) return;
    const n = this.heldBy(creator) + delta;
    if (n > 0) this.byCreator.set(creator, n);
    else this.byCreator.delete(creator);
  }

  /** A watcher was created at `at` (live or replayed): the client's bucket loses a token. */
  take(owner: string | undefined, creator: string | undefined, at: number): void {
    const key = owner ?? creator;
    if (key === undefined || this.rate === 0) return;
    const tokens = this.tokens(key, at) - 1;
    const bucket = this.buckets.get(key);
    const last = bucket ? Math.max(bucket.at, at) : at;
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: last });
  }

  /** Drops buckets that have refilled (a missing bucket is a full one). */
  prune(now: number): void {
    if (this.rate === 0) return;
    const fullAfter = this.burst / this.rate;
    for (const [key, b] of this.buckets) {
      if (now - b.at < fullAfter) break;
      this.buckets.delete(key);
    }
  }

  snapshotBuckets(): BucketTuple[] {
    return [...this.buckets].map(([key, b]) => [key, b.tokens, b.at]);
  }

  restoreBuckets(tuples: readonly BucketTuple[] | undefined): void {
    if (!tuples || this.rate === 0) return;
    for (const [key, tokens, at] of [...tuples].sort((a, b) => a[2] - b[2])) this.buckets.set(key, { tokens, at });
  }

  private tokens(key: string, at: number): number {
    const b = this.buckets.get(key);
    if (!b) return this.burst;
    return Math.min(this.burst, b.tokens + Math.max(0, at - b.at) * this.rate);
  }
}
