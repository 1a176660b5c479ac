// The ingress agent's decisions, pure: from the server's assigned channels, the
// agent's monitors and what the kernel currently holds (translator rules on the
// upstream device, upstream joins), the kernel changes that make it match,
// each with a reason for the log, in the order the ingress applies them
// (INGRESS_PHASES in ingress-agent.ts):
//   1. upsert rules  — a new or changed (Sg,Gg)->(Sl,Gl) is in the map before
//      the join brings packets, so no global packet leaks untranslated; a
//      changed mapping is one upsert of the same key (the translator's map is
//      keyed by (Sg,Gg)), i.e. make-before-break with no gap at all;
//   2. joins         — traffic starts only once it can be translated;
//   3. leaves        — stop pulling channels that are gone...
//   4. removes       — ...then drop their rules (packets still in flight until
//      the leave takes effect are translated, never leaked with global addresses).
import { AddressError, parseAddress, parsePrefix, prefixContains, type Prefix } from '../core/address.ts';
import { canonicalChannel, channelKey, type Channel } from '../core/channel.ts';
import { compareChannels } from './joinfile.ts';
import type { MappedChannel } from '../protocol/model.ts';
import type { TranslationRule } from '../dataplane/translator.ts';
import { membershipKey, type JoinedChannel } from '../dataplane/upstream-join.ts';
import { sameOutputs, show, type KernelChange } from '../agent/kernel-change.ts';

/** A channel this ingress should carry: (Sg,Gg) translated to (Sl,Gl). */
export interface DesiredChannel {
  readonly id: number;
  readonly global: Channel;
  readonly local: Channel;
}

export interface SkippedChannel {
  readonly id: number;
  readonly global: Channel;
  readonly reason: string;
}

export interface IngressConfig {
  /** Source prefixes this ingress ingests (canonical or not; validated here). */
  readonly monitors: readonly string[];
  readonly upstreamInterface: string;
  /** Where translated packets go (1..4 devices; the translator clones to all). */
  readonly downstreamInterfaces: readonly string[];
  /** false with --no-join: an ingest manager reads the joinfile and joins instead. */
  readonly join: boolean;
}

export interface IngressKernelState {
  readonly rules: readonly TranslationRule[];
  readonly joins: readonly JoinedChannel[];
}

export interface IngressPlan {
  /** Sorted by global channel. Also the joinfile's content. */
  readonly desired: DesiredChannel[];
  /** Assigned channels that are not carried, with why (unassigned ones are not listed: that is normal). */
  readonly skipped: SkippedChannel[];
  readonly actions: KernelChange[];
}

/** A channel read back from the kernel in canonical spelling (as given when it is not a valid channel). */
function canonicalOr(c: Channel): Channel {
  try {
    return canonicalChannel(c.source, c.group);
  } catch {
    return c;
  }
}

/** The canonical key of a channel read back from the kernel (tolerates other spellings). */
const keyOf = (c: Channel): string => channelKey(canonicalOr(c));

function compareKeys(a: Channel, b: Channel): number {
  try {
    return compareChannels(a, b);
  } catch {
    const ka = channelKey(a);
    const kb = channelKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  }
}

/** Validates and parses monitor prefixes; throws AddressError naming the bad one. */
export function parseMonitors(monitors: readonly string[]): Prefix[] {
  return monitors.map((m) => {
    try {
      return parsePrefix(m);
    } catch (err) {
      throw new AddressError(`monitor "${m}": ${(err as Error).message}`);
    }
  });
}

/**
 * The channels to carry: state 'assigned', a local mapping, the source inside a
 * monitor, same family on both sides, and no two globals sharing one local
 * channel (the egress could not tell them apart; the lower assignment id wins).
 * An ASM local mapping (*,Gl) keeps the global source: (Sg,Gg)->(Sg,Gl).
 */
export function selectDesired(
  assignments: readonly MappedChannel[],
  monitors: readonly Prefix[],
): { desired: DesiredChannel[]; skipped: SkippedChannel[] } {
  const skipped: SkippedChannel[] = [];
  const byGlobal = new Map<string, DesiredChannel>();
  const byLocal = new Map<string, DesiredChannel>();
  const sorted = [...assignments].sort((a, b) => a.id - b.id);
  for (const a of sorted) {
    if (a.state !== 'assigned' || a.local === null) continue;
    let global: Channel;
    let local: Channel;
    try {
      global = canonicalChannel(a.global.source, a.global.group);
    } catch (err) {
      skipped.push({ id: a.id, global: a.global, reason: `invalid global channel: ${(err as Error).message}` });
      continue;
    }
    try {
      local =
        'asmGroup' in a.local
          ? canonicalChannel(global.source, a.local.asmGroup)
          : canonicalChannel(a.local.source, a.local.group);
    } catch (err) {
      skipped.push({ id: a.id, global, reason: `invalid local mapping: ${(err as Error).message}` });
      continue;
    }
    const source = parseAddress(global.source);
    if (!monitors.some((m) => prefixContains(m, source))) {
      skipped.push({ id: a.id, global, reason: 'source not in any monitor' });
      continue;
    }
    if (parseAddress(local.group).family !== source.family) {
      skipped.push({ id: a.id, global, reason: `local ${show(local)} is of another IP family` });
      continue;
    }
    const gk = channelKey(global);
    if (byGlobal.has(gk)) {
      skipped.push({ id: a.id, global, reason: `duplicate of assignment id=${byGlobal.get(gk)?.id}` });
      continue;
    }
    const lk = channelKey(local);
    const clash = byLocal.get(lk);
    if (clash) {
      skipped.push({ id: a.id, global, reason: `local ${show(local)} already carries ${show(clash.global)} (id=${clash.id})` });
      continue;
    }
    const d: DesiredChannel = { id: a.id, global, local };
    byGlobal.set(gk, d);
    byLocal.set(lk, d);
  }
  const desired = [...byGlobal.values()].sort((x, y) => compareKeys(x.global, y.global));
  return { desired, skipped };
}

/** The actions that take the kernel from `kernel` to what `assignments` ask for. */
export function planIngress(
  assignments: readonly MappedChannel[],
  config: IngressConfig,
  kernel: IngressKernelState,
): IngressPlan {
  const { desired, skipped } = selectDesired(assignments, parseMonitors(config.monitors));
  const outputs = [...config.downstreamInterfaces];
  const rules = new Map<string, TranslationRule>();
  for (const r of kernel.rules) rules.set(keyOf(r.from), r);
  const joins = new Map<string, JoinedChannel>();
  for (const j of kernel.joins) joins.set(membershipKey(canonicalOr(j.channel), j.device), j);

  const upserts: KernelChange[] = [];
  const joinActions: KernelChange[] = [];
  const wantedRules = new Set<string>();
  const wantedJoins = new Set<string>();
  for (const d of desired) {
    const key = channelKey(d.global);
    wantedRules.add(key);
    const have = rules.get(key);
    const rule: TranslationRule = { from: d.global, to: d.local, outputs };
    if (!have) {
      upserts.push({ kind: 'upsert', rule, reason: `new assignment id=${d.id}` });
    } else if (keyOf(have.to) !== channelKey(d.local)) {
      upserts.push({ kind: 'upsert', rule, reason: `mapping changed id=${d.id} ${show(have.to)} -> ${show(d.local)}` });
    } else if (!sameOutputs(have.outputs, outputs)) {
      upserts.push({ kind: 'upsert', rule, reason: `outputs changed ${have.outputs.join('+')} -> ${outputs.join('+')}` });
    }
    if (config.join) {
      const jk = membershipKey(d.global, config.upstreamInterface);
      wantedJoins.add(jk);
      if (!joins.has(jk)) {
        joinActions.push({ kind: 'join', channel: d.global, device: config.upstreamInterface, reason: `assigned id=${d.id}` });
      }
    }
  }

  const leaves: KernelChange[] = [];
  const held = [...joins].sort((a, b) => compareKeys(a[1].channel, b[1].channel) || (a[1].device < b[1].device ? -1 : 1));
  for (const [jk, j] of held) {
    if (wantedJoins.has(jk)) continue;
    const reason = !config.join && wantedRules.has(keyOf(j.channel))
      ? 'upstream joins disabled (--no-join)'
      : j.device !== config.upstreamInterface && wantedRules.has(keyOf(j.channel))
        ? `not the upstream interface ${config.upstreamInterface}`
        : 'no longer assigned';
    leaves.push({ kind: 'leave', channel: j.channel, device: j.device, reason });
  }
  const removes: KernelChange[] = [];
  for (const r of [...kernel.rules].sort((a, b) => compareKeys(a.from, b.from))) {
    if (!wantedRules.has(keyOf(r.from))) removes.push({ kind: 'remove', from: r.from, reason: 'no longer assigned' });
  }
  return { desired, skipped, actions: [...upserts, ...joinActions, ...leaves, ...removes] };
}
