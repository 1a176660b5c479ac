// The local address pool of the MNAT service, built from the prototype's
// pool.json format. API SKELETON: implementation follows in the next commit.
import type { Family } from './address.ts';
import type { Channel } from './channel.ts';

/** How a global channel is carried locally: an SSM (Sl,Gl) or an ASM (*,Gl). */
export type LocalMapping = { source: string; group: string } | { asmGroup: string };

/** The group of a local mapping (its pool key: a Gl is never shared by two mappings). */
export function localGroup(local: LocalMapping): string {
  return 'asmGroup' in local ? local.asmGroup : local.group;
}

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

export declare class Pool {
  /** Builds a pool from parsed pool.json; throws PoolError naming the bad field. */
  static fromJson(json: unknown, options?: PoolOptions): Pool;
  /** Parses pool.json text; malformed JSON is a PoolError at path "/". */
  static parse(text: string, options?: PoolOptions): Pool;
  readonly ranges: readonly PoolRangeInfo[];
  /** Total usable local groups (all ranges, after excludes). */
  size(): bigint;
  inUse(): number;
  inGrace(): number;
  /** Groups neither in use nor in grace, for one family or all. */
  free(family?: Family): bigint;
  /** Whether allocate(channel) would succeed now. */
  canAllocate(channel: Channel): boolean;
  /** Picks a free local mapping at random for this global channel; null when exhausted. */
  allocate(channel: Channel): LocalMapping | null;
  /** Marks a specific mapping in use (journal replay / restore); throws if it is taken. */
  claim(local: LocalMapping): void;
  isInUse(local: LocalMapping): boolean;
  /** In use -> grace, remembering when. */
  release(local: LocalMapping, atMs: number): void;
  /** Grace entries whose grace period has ended at nowMs, oldest first. */
  graceDue(nowMs: number, gracePeriodMs: number): Array<{ local: LocalMapping; releasedAtMs: number }>;
  /** When the oldest grace entry ends, or null. */
  nextGraceEndMs(gracePeriodMs: number): number | null;
  /** Grace -> free. */
  reclaim(local: LocalMapping): void;
  snapshot(): PoolSnapshot;
  /** Loads a snapshot into a fresh pool (built from the current config). */
  restore(snapshot: PoolSnapshot): void;
}
