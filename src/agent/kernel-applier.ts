// Applies an agent's planned kernel changes, the same way for both agents:
// phase by phase in the order the agent gives (its make-before-break order is
// data, see the phases in egress-agent.ts and ingress-agent.ts); a phase with
// enough changes goes to the kernel as one batch (translator sync, joiner
// joinMany) and, when the batch fails, change by change so one bad change
// holds back only itself; a join waits until its rule is in place, so the first
// packet it brings is translated. Each change is logged once with its reason;
// a change that keeps failing is logged at warn once, then at debug until it
// works. The caller retries a pass that failed (SerialPass with a backoff).
import { channelKey } from '../core/channel.ts';
import type { TranslationRule } from '../dataplane/translator.ts';
import type { Logger } from '../host/host.ts';
import { describeChange, type ChangeKind, type KernelChange } from './kernel-change.ts';
import type { Joiner, RuleTable } from './ports.ts';

export interface ApplyPhase {
  /** The kinds applied in this phase, in this order. */
  readonly kinds: readonly ChangeKind[];
  /** From this many changes on, one batch: translator sync for rule changes, joinMany for joins (a batched phase holds one of the two). */
  readonly batchFrom?: number;
  /** One by one side by side (each its own tool exec) rather than in sequence. */
  readonly together?: boolean;
}

export interface KernelApplierOptions {
  readonly log: Logger;
  readonly translator: RuleTable;
  readonly joiner: Joiner;
  readonly phases: readonly ApplyPhase[];
  /** Counted here: changes that took effect, and failures (a failed batch counts once). */
  readonly stats: { actions: number; failures: number };
}

export interface KernelApplier {
  /** The translator's rules as applied, by channelKey(rule.from). The agent clears it when the translator starts over. */
  readonly rules: Map<string, TranslationRule>;
  /** Applies the changes phase by phase; false when one failed or waits (retry the pass). */
  apply(changes: readonly KernelChange[]): Promise<boolean>;
  /** The change (or batch) in progress, for a watchdog; '' outside apply(). */
  current(): string;
  /** Applies nothing more (a pass in progress ends after its current change). */
  stop(): void;
}

export function createKernelApplier(opts: KernelApplierOptions): KernelApplier {
  const { log, translator, joiner, stats } = opts;
  const rules = new Map<string, TranslationRule>();
  const failing = new Set<string>();
  let current = '';
  let stopped = false;

  const record = (into: Map<string, TranslationRule>, c: KernelChange): void => {
    if (c.kind === 'upsert') into.set(channelKey(c.rule.from), c.rule);
    else if (c.kind === 'remove') into.delete(channelKey(c.from));
  };
  const done = (c: KernelChange): void => {
    const what = describeChange(c);
    stats.actions++;
    failing.delete(what);
    log.info(what, { reason: c.reason });
  };
  const fail = (c: KernelChange, err: Error): void => {
    const what = describeChange(c);
    stats.failures++;
    log[failing.has(what) ? 'debug' : 'warn'](`failed: ${what}`, { reason: c.reason, error: err.message });
    failing.add(what);
  };

  const one = async (c: KernelChange): Promise<boolean> => {
    current = describeChange(c);
    try {
      await (c.kind === 'upsert' ? translator.upsert(c.rule) : c.kind === 'remove' ? translator.remove(c.from) : joiner[c.kind](c.channel, c.device));
    } catch (err) {
      fail(c, err as Error);
      return false;
    }
    record(rules, c);
    done(c);
    return true;
  };

  const each = async (cs: readonly KernelChange[], together: boolean | undefined): Promise<boolean> => {
    if (together) return (await Promise.all(cs.map((c) => stopped || one(c)))).every(Boolean);
    let ok = true;
    for (const c of cs) if (!stopped && !(await one(c))) ok = false;
    return ok;
  };

  /** Rule changes as one translator sync: one bpftool exec, whatever their number. */
  const syncRules = async (cs: readonly KernelChange[]): Promise<boolean> => {
    const next = new Map(rules);
    for (const c of cs) record(next, c);
    current = `${cs.length} translator changes in one batch`;
    try {
      await translator.sync!([...next.values()]);
    } catch (err) {
      stats.failures++;
      log.warn(`failed: ${current}; applying them one by one`, { error: (err as Error).message });
      return each(cs, false);
    }
    rules.clear();
    for (const [k, r] of next) rules.set(k, r);
    cs.forEach(done);
    return true;
  };

  /** Joins as one joinMany (the smcroute backend overlaps its execs); per join its own outcome. */
  const joinMany = async (cs: ReadonlyArray<KernelChange & { kind: 'join' }>, together: boolean | undefined): Promise<boolean> => {
    current = `${cs.length} upstream joins`;
    let errors: Array<Error | null>;
    try {
      errors = await joiner.joinMany!(cs);
    } catch {
      return each(cs, together);
    }
    cs.forEach((c, i) => (errors[i] ? fail(c, errors[i]!) : done(c)));
    return errors.every((e) => !e);
  };

  return {
    rules,
    current: () => current,
    stop() {
      stopped = true;
    },
    async apply(changes) {
      let ok = true;
      for (const { kinds, batchFrom, together } of opts.phases) {
        if (stopped) break;
        let cs = kinds.flatMap((k) => changes.filter((c) => c.kind === k));
        // A join waits for its rule: the packets it brings must be translated from the first.
        const ready = cs.filter((c) => c.kind !== 'join' || rules.has(channelKey(c.channel)));
        if (ready.length < cs.length) ok = false;
        cs = ready;
        if (cs.length === 0) continue;
        // A batched phase holds one sort of change: rule changes (one sync) or joins (one joinMany).
        const batch = cs.length >= (batchFrom ?? Infinity);
        const kind = cs[0]!.kind;
        const applied =
          batch && kind === 'join' && joiner.joinMany
            ? await joinMany(cs as ReadonlyArray<KernelChange & { kind: 'join' }>, together)
            : batch && kind !== 'join' && kind !== 'leave' && translator.sync
              ? await syncRules(cs)
              : await each(cs, together);
        if (!applied) ok = false;
      }
      current = '';
      // A change no longer planned is no longer failing: should it fail again later, it is news (warn).
      const planned = new Set(changes.map(describeChange));
      for (const f of failing) if (!planned.has(f)) failing.delete(f);
      return ok;
    },
  };
}
