// Egress reconcile: pure decisions. From the channels the LAN wants, the
// server's assignments and what the kernel has now (translator rules and
// upstream joins), compute the kernel changes that make it right, each with a
// reason for the log. Planning against the state those changes produce yields
// none (idempotent). The applier (agent/kernel-applier.ts) applies them in the
// egress's make-before-break phases.
import { channelKey, type Channel } from '../core/channel.ts';
import type { MappedChannel } from '../protocol/model.ts';
import type { TranslationRule } from '../dataplane/translator.ts';
import type { JoinedChannel } from '../dataplane/upstream-join.ts';
import { sameOutputs, show, type KernelChange } from '../agent/kernel-change.ts';

export type MappingStatus = 'active' | 'held' | 'waiting' | 'unsupported' | 'conflict';

/** One desired channel's situation, for the status file. */
export interface EgressMapping {
  readonly global: Channel;
  readonly local: Channel | null;
  readonly id: number | null;
  readonly status: MappingStatus;
  readonly note?: string;
}

export interface EgressPlanInput {
  /** Global channels the LAN wants (already capped, see selectDesired). */
  readonly desired: readonly Channel[];
  readonly assignments: readonly MappedChannel[];
  readonly rules: readonly TranslationRule[];
  readonly joins: readonly JoinedChannel[];
  /** WAN device on which (Sl,Gl) is joined. */
  readonly upstream: string;
  /** LAN bridge the translated packets are sent to. */
  readonly downstream: string;
  /**
   * Local keys of rules to keep, with their joins, while their global is still
   * wanted: a re-mapped channel's old local channel beside the new one
   * (make-before-break), until the ingress has moved too.
   */
  readonly keep?: ReadonlySet<string>;
}

export interface EgressPlan {
  readonly actions: KernelChange[];
  readonly mappings: EgressMapping[];
}

function compareKeys(a: Channel, b: Channel): number {
  const x = channelKey(a);
  const y = channelKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Applies the max-channels cap. Channels already active keep their place (a new
 * join never evicts a working one); the rest are taken in key order.
 */
export function selectDesired(
  desired: readonly Channel[],
  active: ReadonlySet<string>,
  max: number,
): { accepted: Channel[]; rejected: Channel[] } {
  const sorted = [...desired].sort(compareKeys);
  const first = sorted.filter((c) => active.has(channelKey(c)));
  const rest = sorted.filter((c) => !active.has(channelKey(c)));
  const ordered = [...first, ...rest];
  const limit = Math.max(0, max);
  return { accepted: ordered.slice(0, limit), rejected: ordered.slice(limit) };
}

export function planEgress(input: EgressPlanInput): EgressPlan {
  const desiredKeys = new Set(input.desired.map(channelKey));
  const byGlobal = new Map<string, MappedChannel>();
  for (const a of input.assignments) byGlobal.set(channelKey(a.global), a);

  const currentRules = new Map<string, TranslationRule>();
  for (const r of input.rules) currentRules.set(channelKey(r.from), r);

  const heldByGlobal = new Map<string, TranslationRule>();
  for (const r of input.rules) heldByGlobal.set(channelKey(r.to), r);

  // The target: one rule and one join per desired channel with a usable mapping.
  const mappings: EgressMapping[] = [];
  const candidates: Array<{ global: Channel; local: Channel; id: number; installed: boolean }> = [];
  for (const global of input.desired) {
    const a = byGlobal.get(channelKey(global));
    if (!a) {
      // The server does not list it (yet): restarted, or our PUT is in flight.
      // A working translation stays until the server says otherwise.
      const cur = heldByGlobal.get(channelKey(global));
      if (cur) candidates.push({ global, local: cur.from, id: -1, installed: true });
      else mappings.push({ global, local: null, id: null, status: 'waiting', note: 'not yet known to the server' });
    } else if (a.state !== 'assigned' || a.local === null) {
      mappings.push({ global, local: null, id: a.id, status: 'waiting', note: 'unassigned by the server' });
    } else if (!('source' in a.local)) {
      mappings.push({ global, local: null, id: a.id, status: 'unsupported', note: `ASM local group ${a.local.asmGroup} is not supported by the egress` });
    } else {
      const local: Channel = { source: a.local.source, group: a.local.group };
      const cur = currentRules.get(channelKey(local));
      candidates.push({ global, local, id: a.id, installed: cur !== undefined && channelKey(cur.to) === channelKey(global) });
    }
  }
  // Two globals on one local channel cannot both be translated: the one already
  // installed keeps it, else the lower assignment id.
  candidates.sort((x, y) => (x.installed === y.installed ? x.id - y.id : x.installed ? -1 : 1));
  const targetRules = new Map<string, { rule: TranslationRule; id: number }>(); // by local key
  for (const { global, local, id } of candidates) {
    const lk = channelKey(local);
    const taken = targetRules.get(lk);
    if (taken) {
      mappings.push({ global, local, id, status: 'conflict', note: `local ${show(local)} is also mapped to ${show(taken.rule.to)}` });
      continue;
    }
    targetRules.set(lk, { rule: { from: local, to: global, outputs: [input.downstream] }, id });
    if (id < 0) mappings.push({ global, local, id: null, status: 'held', note: 'kept while the server does not list it' });
    else mappings.push({ global, local, id, status: 'active' });
  }
  mappings.sort((x, y) => compareKeys(x.global, y.global));

  const why = (rule: TranslationRule): string => {
    const gk = channelKey(rule.to);
    if (!desiredKeys.has(gk)) return `no LAN host wants ${show(rule.to)} any more`;
    const a = byGlobal.get(gk);
    if (!a || a.state !== 'assigned' || a.local === null) return `the server withdrew the mapping of ${show(rule.to)}`;
    if ('source' in a.local) return `${show(rule.to)} is now mapped to ${show({ source: a.local.source, group: a.local.group })}`;
    return `${show(rule.to)} is now mapped to an ASM group`;
  };

  const currentJoins = new Map<string, JoinedChannel[]>();
  for (const j of input.joins) {
    const k = channelKey(j.channel);
    currentJoins.set(k, [...(currentJoins.get(k) ?? []), j]);
  }

  const adds: KernelChange[] = [];
  const removes: KernelChange[] = [];

  // Rules and joins to remove: leave before removing the rule, so packets stop
  // arriving while they are still translated.
  for (const [lk, r] of currentRules) {
    if (targetRules.has(lk) || (input.keep?.has(lk) && desiredKeys.has(channelKey(r.to)))) continue;
    const reason = why(r);
    for (const j of currentJoins.get(lk) ?? []) removes.push({ kind: 'leave', channel: j.channel, device: j.device, reason });
    removes.push({ kind: 'remove', from: r.from, reason });
  }
  for (const [lk, js] of currentJoins) {
    if (targetRules.has(lk) || currentRules.has(lk)) continue;
    for (const j of js) removes.push({ kind: 'leave', channel: j.channel, device: j.device, reason: `no mapping uses ${show(j.channel)}` });
  }

  // Rules and joins to add or fix: the rule first, so the first packet after
  // the join is already translated.
  for (const [lk, { rule, id }] of targetRules) {
    const cur = currentRules.get(lk);
    const mapped = id < 0
      ? `LAN wants ${show(rule.to)}, kept on ${show(rule.from)} until the server lists it`
      : `LAN wants ${show(rule.to)}, server maps it to ${show(rule.from)} (assignment ${id})`;
    if (!cur) {
      adds.push({ kind: 'upsert', rule, reason: mapped });
    } else if (channelKey(cur.to) !== channelKey(rule.to)) {
      adds.push({ kind: 'upsert', rule, reason: `${show(rule.from)} now carries ${show(rule.to)} instead of ${show(cur.to)} (assignment ${id})` });
    } else if (!sameOutputs(cur.outputs, rule.outputs)) {
      adds.push({ kind: 'upsert', rule, reason: `downstream changed from ${cur.outputs.join('+')} to ${rule.outputs.join('+')}` });
    }
    const js = currentJoins.get(lk) ?? [];
    for (const j of js) {
      if (j.device !== input.upstream) {
        removes.push({ kind: 'leave', channel: j.channel, device: j.device, reason: `upstream changed from ${j.device} to ${input.upstream}` });
      }
    }
    if (!js.some((j) => j.device === input.upstream)) {
      adds.push({ kind: 'join', channel: rule.from, device: input.upstream, reason: cur ? `${show(rule.from)} is not joined on ${input.upstream}` : mapped });
    }
  }

  // Removals first: they free local channels a new mapping may reuse.
  return { actions: [...removes, ...adds], mappings };
}
