// A change to the kernel, as both agents plan it: write or remove a translator
// rule, join or leave an upstream (S,G), each with the reason the log gives.
// The agents differ in what they plan, not in these words. Pure: runs on QuickJS.
import { channelKey, type Channel } from '../core/channel.ts';
import type { TranslationRule } from '../dataplane/translator.ts';
import { membershipKey, type JoinedChannel } from '../dataplane/upstream-join.ts';

export type KernelChange =
  | { readonly kind: 'upsert'; readonly rule: TranslationRule; readonly reason: string }
  | { readonly kind: 'remove'; readonly from: Channel; readonly reason: string }
  | { readonly kind: 'join' | 'leave'; readonly channel: Channel; readonly device: string; readonly reason: string };

export type ChangeKind = KernelChange['kind'];

/** "(S,G)" as log lines and reasons write a channel. */
export const show = (c: Channel): string => `(${c.source},${c.group})`;

/** Two rules' output device lists are the same (in order: the last output is the redirect). */
export function sameOutputs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One line per change, for the log (the reason goes in its own field). */
export function describeChange(c: KernelChange): string {
  return c.kind === 'upsert'
    ? `translate ${show(c.rule.from)} -> ${show(c.rule.to)} to ${c.rule.outputs.join('+')}`
    : c.kind === 'remove'
      ? `stop translating ${show(c.from)}`
      : `${c.kind} ${show(c.channel)} on ${c.device}`;
}

/** What the kernel holds after `changes` succeed on `state` (for tests and dry runs). */
export function applyKernelChanges(
  state: { readonly rules: readonly TranslationRule[]; readonly joins: readonly JoinedChannel[] },
  changes: readonly KernelChange[],
): { rules: TranslationRule[]; joins: JoinedChannel[] } {
  const rules = new Map(state.rules.map((r) => [channelKey(r.from), r] as const));
  const joins = new Map(state.joins.map((j) => [membershipKey(j.channel, j.device), j] as const));
  for (const c of changes) {
    if (c.kind === 'upsert') rules.set(channelKey(c.rule.from), c.rule);
    else if (c.kind === 'remove') rules.delete(channelKey(c.from));
    else if (c.kind === 'join') joins.set(membershipKey(c.channel, c.device), { channel: c.channel, device: c.device });
    else joins.delete(membershipKey(c.channel, c.device));
  }
  return { rules: [...rules.values()], joins: [...joins.values()] };
}
