// The local address pool of the MNAT service, built from the prototype's
// pool.json format:
//   {"group-pool":{"ranges":[{"group-range":"232.1.0.0/16",
//     "source-range":"10.9.0.0/24"|"keep"|"asm",
//     "exclude":[{"groupex-range":"232.1.0.0/24"}],"note":"..."}],
//    "default-source-range":"..."},"note":"..."}
// A range without source-range uses default-source-range, and without that
// "keep" (the prototype's default).
//
// Allocation policy (documented choices):
// - A local group Gl belongs to at most one mapping at a time, whatever the
//   source kind. Sharing one Gl between two sources would be legal SSM, but
//   snooping switches forward by group MAC, so a shared Gl leaks one channel's
//   traffic to the other's receivers. Capacity is therefore the group count.
// - A range of the channel's family is chosen first-fit in file order (the
//   operator lists preferred ranges first); inside it Gl is drawn uniformly
//   from the remaining free groups.
// - source-range prefix: Sl is drawn uniformly from the prefix's host
//   addresses (IPv4: not the network or broadcast address when the prefix is
//   /30 or shorter; IPv6: not the all-zero subnet-router anycast address).
//   keep: Sl = Sg (same family by construction). asm: a local (*,Gl).
// - Free groups live in a treap of disjoint intervals with subtree sizes, so
//   drawing the k-th free group, taking it and giving it back are O(log n) in
//   the number of intervals, independent of the range size (a /8 or an IPv6
//   /96 is as quick as a /24). Excludes are subtracted once at load time.
// - A released mapping spends the grace period in a FIFO (insertion-ordered
//   Map) before its group returns to the free set; the caller passes times.
import {
  AddressError,
  formatPrefix,
  formatValue,
  parsePrefix,
  prefixCoversPrefix,
  prefixLast,
  tryParseAddress,
  IPV4_MULTICAST,
  IPV4_SSM,
  IPV6_MULTICAST,
  prefixHoldsUnforwarded,
  type Family,
  type Prefix,
} from '../../core/address.ts';
import type { Channel } from '../../core/channel.ts';
import { localGroup, type LocalMapping } from '../../protocol/model.ts';

export class PoolError extends Error {
  override readonly name = 'PoolError';
  /** Where in pool.json, e.g. "/group-pool/ranges[1]/exclude[0]/groupex-range". */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

export type SourceRange = { kind: 'prefix'; prefix: string } | { kind: 'keep' } | { kind: 'asm' };

export interface PoolRangeInfo {
  readonly family: Family;
  readonly groupRange: string;
  readonly source: SourceRange;
  readonly excludes: readonly string[];
  readonly note?: string;
  /** Usable groups after excludes. */
  readonly size: bigint;
}

export interface PoolOptions {
  /** Uniform in [0, 1); inject a seeded one (createSeededRandom) for determinism. */
  random?: () => number;
}

export interface PoolSnapshot {
  inUse: LocalMapping[];
  grace: Array<{ local: LocalMapping; releasedAtMs: number }>;
}

/** A small, fast, seedable PRNG (mulberry32) returning uniform numbers in [0, 1). */
export function createSeededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform bigint in [0, n) from 32-bit draws, by rejection (fewer than 2 rounds expected). */
export function randomBelow(n: bigint, random: () => number): bigint {
  if (n <= 1n) return 0n;
  const bits = (n - 1n).toString(2).length;
  const words = Math.ceil(bits / 32);
  const mask = (1n << BigInt(bits)) - 1n;
  for (;;) {
    let v = 0n;
    for (let i = 0; i < words; i++) v = (v << 32n) | BigInt(Math.floor(random() * 4294967296) >>> 0);
    v &= mask;
    if (v < n) return v;
  }
}

// ---------------------------------------------------------------------------
// Free-interval treap

interface Node {
  lo: bigint;
  hi: bigint;
  /** Addresses in this subtree. */
  sum: bigint;
  pri: number;
  l: Node | null;
  r: Node | null;
}

/** A set of integers stored as disjoint intervals in a treap keyed by interval start. */
export class FreeSet {
  private root: Node | null = null;
  private seed = 0x9e3779b9;
  /** Nodes visited, for tests that bound the work (never time). */
  steps = 0;

  constructor(intervals: ReadonlyArray<readonly [bigint, bigint]> = []) {
    for (const [lo, hi] of intervals) this.root = this.merge(this.root, this.node(lo, hi));
  }

  total(): bigint {
    return this.root ? this.root.sum : 0n;
  }

  intervals(): Array<[bigint, bigint]> {
    const out: Array<[bigint, bigint]> = [];
    const walk = (n: Node | null): void => {
      if (!n) return;
      walk(n.l);
      out.push([n.lo, n.hi]);
      walk(n.r);
    };
    walk(this.root);
    return out;
  }

  /** The k-th smallest member (0-based); k < total(). */
  kth(k: bigint): bigint {
    const v = this.seekKth(k, null);
    if (v === null) throw new RangeError('FreeSet.kth out of range');
    return v;
  }

  has(v: bigint): boolean {
    return this.find(v) !== null;
  }

  /** Takes v out of the set; false when it was not free. */
  remove(v: bigint): boolean {
    // One descent, then an in-place edit: the common case (v at an interval
    // end, or splitting one) touches only the path, with no split or merge of
    // the whole tree.
    const path: Node[] = [];
    if (!this.find(v, path)) return false;
    this.cut(path, v);
    return true;
  }

  /** Takes out and returns the k-th smallest member (0-based); k < total(). */
  takeKth(k: bigint): bigint {
    const path: Node[] = [];
    const v = this.seekKth(k, path);
    if (v === null) throw new RangeError('FreeSet.takeKth out of range');
    this.cut(path, v);
    return v;
  }

  /** One descent to the k-th smallest member (null past the end); the nodes passed go onto path when given. */
  private seekKth(k: bigint, path: Node[] | null): bigint | null {
    let n = this.root;
    while (n) {
      this.steps++;
      if (path) path.push(n);
      const left = n.l ? n.l.sum : 0n;
      if (k < left) {
        n = n.l;
        continue;
      }
      k -= left;
      const size = n.hi - n.lo + 1n;
      if (k < size) return n.lo + k;
      k -= size;
      n = n.r;
    }
    return null;
  }

  /** Removes v from the last node of path (which holds it); fixes the sums on the path. */
  private cut(path: Node[], v: bigint): void {
    const n = path[path.length - 1] as Node;
    if (n.lo === n.hi) {
      // The node disappears: its children take its place.
      const repl = this.merge(n.l, n.r);
      const parent = path.length > 1 ? (path[path.length - 2] as Node) : null;
      if (!parent) this.root = repl;
      else if (parent.l === n) parent.l = repl;
      else parent.r = repl;
      path.pop();
    } else if (v === n.lo) n.lo = v + 1n;
    else if (v === n.hi) n.hi = v - 1n;
    else {
      // [lo, hi] becomes [lo, v-1] here plus a new node [v+1, hi].
      const right = this.node(v + 1n, n.hi);
      const moved = n.hi - v + 1n;
      n.hi = v - 1n;
      for (const p of path) p.sum -= moved;
      this.insert(right);
      return;
    }
    for (const p of path) p.sum -= 1n;
  }

  /** Standard treap insertion of a detached node: one descent and one split of a subtree. */
  private insert(x: Node): void {
    let parent: Node | null = null;
    let n = this.root;
    while (n && n.pri >= x.pri) {
      this.steps++;
      n.sum += x.sum;
      parent = n;
      n = x.lo < n.lo ? n.l : n.r;
    }
    const [l, r] = this.split(n, x.lo);
    x.l = l;
    x.r = r;
    this.update(x);
    if (!parent) this.root = x;
    else if (x.lo < parent.lo) parent.l = x;
    else parent.r = x;
  }

  /** Puts v (not currently free) back, joining neighbouring intervals. */
  add(v: bigint): void {
    if (this.find(v)) return;
    let [a, c] = this.split(this.root, v);
    let lo = v;
    let hi = v;
    const pred = this.maxNode(a);
    if (pred && pred.hi === v - 1n) {
      lo = pred.lo;
      a = this.split(a, pred.lo)[0];
    }
    const succ = this.minNode(c);
    if (succ && succ.lo === v + 1n) {
      hi = succ.hi;
      c = this.split(c, succ.lo + 1n)[1];
    }
    this.root = this.merge(this.merge(a, this.node(lo, hi)), c);
  }

  /** The node holding v, or null; the nodes passed go onto path when given. */
  private find(v: bigint, path: Node[] | null = null): Node | null {
    let n = this.root;
    while (n) {
      this.steps++;
      if (path) path.push(n);
      if (v < n.lo) n = n.l;
      else if (v > n.hi) n = n.r;
      else return n;
    }
    return null;
  }

  private maxNode(n: Node | null): Node | null {
    while (n && n.r) {
      this.steps++;
      n = n.r;
    }
    return n;
  }

  private minNode(n: Node | null): Node | null {
    while (n && n.l) {
      this.steps++;
      n = n.l;
    }
    return n;
  }

  private node(lo: bigint, hi: bigint): Node {
    // xorshift32: tree shape only, so it never draws from the allocation PRNG.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return { lo, hi, sum: hi - lo + 1n, pri: this.seed, l: null, r: null };
  }

  private update(n: Node): Node {
    n.sum = n.hi - n.lo + 1n + (n.l ? n.l.sum : 0n) + (n.r ? n.r.sum : 0n);
    return n;
  }

  /** [nodes with lo < key, nodes with lo >= key] */
  private split(n: Node | null, key: bigint): [Node | null, Node | null] {
    if (!n) return [null, null];
    this.steps++;
    if (n.lo < key) {
      const [a, b] = this.split(n.r, key);
      n.r = a;
      return [this.update(n), b];
    }
    const [a, b] = this.split(n.l, key);
    n.l = b;
    return [a, this.update(n)];
  }

  private merge(a: Node | null, b: Node | null): Node | null {
    if (!a) return b;
    if (!b) return a;
    this.steps++;
    if (a.pri > b.pri) {
      a.r = this.merge(a.r, b);
      return this.update(a);
    }
    b.l = this.merge(a, b.l);
    return this.update(b);
  }
}

// ---------------------------------------------------------------------------
// Pool

interface Range {
  readonly info: PoolRangeInfo;
  readonly family: Family;
  readonly prefix: Prefix;
  readonly source: SourceRange;
  /** Host addresses usable as Sl for a prefix source-range: [first, count]. */
  readonly sourceFirst: bigint;
  readonly sourceCount: bigint;
  readonly free: FreeSet;
}

interface Entry {
  local: LocalMapping;
  value: bigint;
  /** The range whose free set this group was taken from (null: outside any range now). */
  range: Range | null;
  /** -1 while in use. */
  releasedAtMs: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new PoolError(`${path}/${key}`, `unknown field "${key}"; expected one of: ${allowed.join(', ')}`);
    }
  }
}

function parsePrefixAt(value: unknown, path: string, what: string): Prefix {
  if (typeof value !== 'string') throw new PoolError(path, `${what} must be a string like "232.1.0.0/16", got ${JSON.stringify(value)}`);
  try {
    return parsePrefix(value);
  } catch (e) {
    throw new PoolError(path, e instanceof AddressError ? e.message : String(e));
  }
}

function isSsmPrefix(p: Prefix): boolean {
  if (p.family === 4) return prefixCoversPrefix(IPV4_SSM, p);
  // FF3x::/32 for any scope x: the prefix must be at least /32 and start ff3x:0000.
  return p.length >= 32 && p.base >> 116n === 0xff3n && ((p.base >> 96n) & 0xffffn) === 0n;
}

function parseSourceRange(value: unknown, path: string): SourceRange {
  if (value === 'keep') return { kind: 'keep' };
  if (value === 'asm') return { kind: 'asm' };
  const p = parsePrefixAt(value, path, 'source-range ("keep", "asm" or a unicast prefix)');
  const multicast = p.family === 4 ? IPV4_MULTICAST : IPV6_MULTICAST;
  if (prefixCoversPrefix(multicast, p) || prefixCoversPrefix(p, multicast)) {
    throw new PoolError(path, `source-range ${formatPrefix(p)} must be a unicast prefix, not multicast`);
  }
  return { kind: 'prefix', prefix: formatPrefix(p) };
}

function hostSpan(p: Prefix): [bigint, bigint] {
  const size = prefixLast(p) - p.base + 1n;
  if (p.family === 4) return p.length <= 30 ? [p.base + 1n, size - 2n] : [p.base, size];
  return p.length <= 126 ? [p.base + 1n, size - 1n] : [p.base, size];
}

export class Pool {
  readonly ranges: readonly PoolRangeInfo[];
  private readonly impl: Range[];
  private readonly random: () => number;
  private readonly taken = new Map<string, Entry>();
  private readonly grace = new Map<string, Entry>();
  private inUseCount = 0;

  private constructor(ranges: Range[], options: PoolOptions) {
    this.impl = ranges;
    this.ranges = ranges.map((r) => r.info);
    this.random = options.random ?? Math.random;
  }

  /** Parses pool.json text; malformed JSON is a PoolError at path "/". */
  static parse(text: string, options: PoolOptions = {}): Pool {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new PoolError('/', `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    return Pool.fromJson(json, options);
  }

  /** Builds a pool from parsed pool.json; throws PoolError naming the bad field. */
  static fromJson(json: unknown, options: PoolOptions = {}): Pool {
    if (!isObject(json)) throw new PoolError('/', 'the pool must be a JSON object {"group-pool":{...}}');
    checkKeys(json, ['group-pool', 'note'], '');
    const gp = json['group-pool'];
    if (!isObject(gp)) throw new PoolError('/group-pool', 'missing or not an object; expected {"ranges":[...]}');
    checkKeys(gp, ['ranges', 'default-source-range', 'note'], '/group-pool');
    if (gp.note !== undefined && typeof gp.note !== 'string') throw new PoolError('/group-pool/note', 'must be a string');
    const defaultSource =
      gp['default-source-range'] === undefined
        ? undefined
        : parseSourceRange(gp['default-source-range'], '/group-pool/default-source-range');
    const list = gp.ranges;
    if (!Array.isArray(list) || list.length === 0) {
      throw new PoolError('/group-pool/ranges', 'must be a non-empty list of {"group-range":...} objects');
    }
    const ranges: Range[] = [];
    list.forEach((raw, i) => {
      const path = `/group-pool/ranges[${i}]`;
      if (!isObject(raw)) throw new PoolError(path, 'must be an object with "group-range"');
      checkKeys(raw, ['group-range', 'source-range', 'exclude', 'note'], path);
      if (raw['group-range'] === undefined) throw new PoolError(`${path}/group-range`, 'is required (a multicast prefix)');
      const prefix = parsePrefixAt(raw['group-range'], `${path}/group-range`, 'group-range');
      const multicast = prefix.family === 4 ? IPV4_MULTICAST : IPV6_MULTICAST;
      if (!prefixCoversPrefix(multicast, prefix)) {
        throw new PoolError(`${path}/group-range`, `${formatPrefix(prefix)} is not inside the multicast range ${formatPrefix(multicast)}`);
      }
      if (prefixHoldsUnforwarded(prefix)) {
        throw new PoolError(`${path}/group-range`, `${formatPrefix(prefix)} includes groups routers never forward (224.0.0.0/24, or IPv6 scopes 0-2); use e.g. 232.1.0.0/16 or ff3e::/96`);
      }
      // Without source-range the range uses default-source-range, and without
      // that "keep", as the prototype did.
      const source: SourceRange =
        raw['source-range'] !== undefined ? parseSourceRange(raw['source-range'], `${path}/source-range`) : defaultSource ?? { kind: 'keep' };
      const sourcePath = raw['source-range'] !== undefined ? `${path}/source-range` : '/group-pool/default-source-range';
      let sourceFirst = 0n;
      let sourceCount = 0n;
      if (source.kind === 'prefix') {
        const sp = parsePrefix(source.prefix);
        if (sp.family !== prefix.family) {
          throw new PoolError(sourcePath, `source-range ${source.prefix} is IPv${sp.family} but group-range ${formatPrefix(prefix)} is IPv${prefix.family}`);
        }
        [sourceFirst, sourceCount] = hostSpan(sp);
      }
      if (source.kind === 'asm' && isSsmPrefix(prefix)) {
        throw new PoolError(`${path}/group-range`, `${formatPrefix(prefix)} is in the SSM range, which cannot carry (*,G) asm mappings`);
      }
      const excludes: Prefix[] = [];
      if (raw.exclude !== undefined) {
        if (!Array.isArray(raw.exclude)) throw new PoolError(`${path}/exclude`, 'must be a list of {"groupex-range":...} objects');
        raw.exclude.forEach((ex, j) => {
          const exPath = `${path}/exclude[${j}]`;
          if (!isObject(ex)) throw new PoolError(exPath, 'must be an object {"groupex-range":"prefix"}');
          checkKeys(ex, ['groupex-range', 'note'], exPath);
          const ep = parsePrefixAt(ex['groupex-range'], `${exPath}/groupex-range`, 'groupex-range');
          if (!prefixCoversPrefix(prefix, ep)) {
            throw new PoolError(`${exPath}/groupex-range`, `${formatPrefix(ep)} is not inside group-range ${formatPrefix(prefix)}`);
          }
          excludes.push(ep);
        });
      }
      if (raw.note !== undefined && typeof raw.note !== 'string') throw new PoolError(`${path}/note`, 'must be a string');
      for (let k = 0; k < ranges.length; k++) {
        const other = ranges[k] as Range;
        if (prefixCoversPrefix(other.prefix, prefix) || prefixCoversPrefix(prefix, other.prefix)) {
          throw new PoolError(`${path}/group-range`, `${formatPrefix(prefix)} overlaps /group-pool/ranges[${k}] (${formatPrefix(other.prefix)}); a local group must belong to one range`);
        }
      }
      // Free intervals: the range minus the union of its excludes.
      excludes.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
      const intervals: Array<[bigint, bigint]> = [];
      let cursor = prefix.base;
      const last = prefixLast(prefix);
      for (const ex of excludes) {
        if (ex.base > cursor) intervals.push([cursor, ex.base - 1n]);
        const exLast = prefixLast(ex);
        if (exLast + 1n > cursor) cursor = exLast + 1n;
      }
      if (cursor <= last) intervals.push([cursor, last]);
      const free = new FreeSet(intervals);
      const info: PoolRangeInfo = {
        family: prefix.family,
        groupRange: formatPrefix(prefix),
        source,
        excludes: excludes.map(formatPrefix),
        ...(typeof raw.note === 'string' ? { note: raw.note } : {}),
        size: free.total(),
      };
      ranges.push({ info, family: prefix.family, prefix, source, sourceFirst, sourceCount, free });
    });
    return new Pool(ranges, options);
  }

  /** Total usable local groups (all ranges, after excludes). */
  size(): bigint {
    let n = 0n;
    for (const r of this.impl) n += r.info.size;
    return n;
  }

  inUse(): number {
    return this.inUseCount;
  }

  inGrace(): number {
    return this.grace.size;
  }

  /** Groups neither in use nor in grace, for one family or all. */
  free(family?: Family): bigint {
    let n = 0n;
    for (const r of this.impl) if (family === undefined || r.family === family) n += r.free.total();
    return n;
  }

  /** Work done by the free-set structures so far (nodes visited), for tests and benchmarks. */
  steps(): number {
    let n = 0;
    for (const r of this.impl) n += r.free.steps;
    return n;
  }

  private rangeFor(channel: Channel): Range | null {
    const group = tryParseAddress(channel.group);
    if (group === null) return null;
    for (const r of this.impl) if (r.family === group.family && r.free.total() > 0n) return r;
    return null;
  }

  /** Whether allocate(channel) would succeed now. */
  canAllocate(channel: Channel): boolean {
    return this.rangeFor(channel) !== null;
  }

  /** Picks a free local mapping at random for this global channel; null when exhausted. */
  allocate(channel: Channel): LocalMapping | null {
    const range = this.rangeFor(channel);
    if (range === null) return null;
    const value = range.free.takeKth(randomBelow(range.free.total(), this.random));
    const group = formatValue(range.family, value);
    let local: LocalMapping;
    if (range.source.kind === 'asm') local = { asmGroup: group };
    else if (range.source.kind === 'keep') local = { source: channel.source, group };
    else {
      const s = range.sourceFirst + randomBelow(range.sourceCount, this.random);
      local = { source: formatValue(range.family, s), group };
    }
    this.taken.set(group, { local, value, range, releasedAtMs: -1 });
    this.inUseCount++;
    return local;
  }

  /** Marks a specific mapping in use (journal replay / restore); throws if its group is taken. */
  claim(local: LocalMapping): void {
    const text = localGroup(local);
    const address = tryParseAddress(text);
    if (address === null) throw new PoolError('/', `local group "${text}" is not an IP address`);
    const group = formatValue(address.family, address.value);
    if (this.taken.has(group)) throw new PoolError('/', `local group ${group} is already in use or in its grace period`);
    let range: Range | null = null;
    for (const r of this.impl) {
      if (r.family === address.family && r.free.remove(address.value)) {
        range = r;
        break;
      }
    }
    // A group outside every range (the pool file changed) is honoured but never reused.
    const canonical: LocalMapping =
      'asmGroup' in local ? { asmGroup: group } : { source: local.source, group };
    this.taken.set(group, { local: canonical, value: address.value, range, releasedAtMs: -1 });
    this.inUseCount++;
  }

  isInUse(local: LocalMapping): boolean {
    const e = this.taken.get(localGroup(local));
    return e !== undefined && e.releasedAtMs < 0;
  }

  /** In use -> grace, remembering when. */
  release(local: LocalMapping, atMs: number): void {
    const group = localGroup(local);
    const e = this.taken.get(group);
    if (e === undefined || e.releasedAtMs >= 0) throw new PoolError('/', `local group ${group} is not in use`);
    e.releasedAtMs = atMs;
    this.inUseCount--;
    this.grace.set(group, e);
  }

  /** Grace entries whose grace period has ended at nowMs, oldest first. */
  graceDue(nowMs: number, gracePeriodMs: number): Array<{ local: LocalMapping; releasedAtMs: number }> {
    const out: Array<{ local: LocalMapping; releasedAtMs: number }> = [];
    for (const e of this.grace.values()) {
      if (e.releasedAtMs + gracePeriodMs > nowMs) break;
      out.push({ local: e.local, releasedAtMs: e.releasedAtMs });
    }
    return out;
  }

  /** When the oldest grace entry ends, or null. */
  nextGraceEndMs(gracePeriodMs: number): number | null {
    for (const e of this.grace.values()) return e.releasedAtMs + gracePeriodMs;
    return null;
  }

  /** Grace -> free. */
  reclaim(local: LocalMapping): void {
    const group = localGroup(local);
    const e = this.grace.get(group);
    if (e === undefined) throw new PoolError('/', `local group ${group} is not in its grace period`);
    this.grace.delete(group);
    this.taken.delete(group);
    if (e.range) e.range.free.add(e.value);
  }

  snapshot(): PoolSnapshot {
    const inUse: LocalMapping[] = [];
    for (const e of this.taken.values()) if (e.releasedAtMs < 0) inUse.push(e.local);
    const grace = [...this.grace.values()].map((e) => ({ local: e.local, releasedAtMs: e.releasedAtMs }));
    return { inUse, grace };
  }

  /** Loads a snapshot into this pool (built from the current config, nothing allocated yet). */
  restore(snapshot: PoolSnapshot): void {
    if (this.taken.size > 0) throw new PoolError('/', 'restore needs a pool with nothing allocated');
    for (const local of snapshot.inUse) this.claim(local);
    const grace = [...snapshot.grace].sort((a, b) => a.releasedAtMs - b.releasedAtMs);
    for (const g of grace) {
      this.claim(g.local);
      this.release(g.local, g.releasedAtMs);
    }
  }
}
