// The one kernel applier both agents use: phases in the order the agent gives,
// a batch per phase with a one-by-one fallback, joins only behind their rule,
// each change logged once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKernelApplier, type ApplyPhase } from '../../src/agent/kernel-applier.ts';
import type { KernelChange } from '../../src/agent/kernel-change.ts';
import type { Joiner, RuleTable } from '../../src/agent/ports.ts';
import { channelKey, type Channel } from '../../src/core/channel.ts';
import type { TranslationRule } from '../../src/dataplane/translator.ts';
import type { JoinedChannel } from '../../src/dataplane/upstream-join.ts';
import type { LogFields } from '../../src/host/host.ts';

const ch = (i: number): Channel => ({ source: '10.0.0.1', group: `232.1.1.${i}` });
const rule = (i: number): TranslationRule => ({ from: ch(i), to: { source: '192.0.2.1', group: `232.9.9.${i}` }, outputs: ['lan'] });
const upsert = (i: number): KernelChange => ({ kind: 'upsert', rule: rule(i), reason: `wanted ${i}` });
const remove = (i: number): KernelChange => ({ kind: 'remove', from: ch(i), reason: `unwanted ${i}` });
const join = (i: number): KernelChange => ({ kind: 'join', channel: ch(i), device: 'wan', reason: `wanted ${i}` });
const leave = (i: number): KernelChange => ({ kind: 'leave', channel: ch(i), device: 'wan', reason: `unwanted ${i}` });

function setup(phases: readonly ApplyPhase[], opts: { sync?: boolean; joinMany?: boolean } = {}) {
  const ops: string[] = [];
  const logs: string[] = [];
  const fail = new Set<string>();
  let failSync = 0;
  const joined = new Map<string, JoinedChannel>();
  const check = (what: string): void => {
    if (fail.has(what)) throw new Error(`${what} refused`);
    ops.push(what);
  };
  const translator: RuleTable = {
    attach: async () => undefined,
    detach: async () => undefined,
    upsert: async (r) => check(`upsert ${channelKey(r.from)}`),
    remove: async (from) => check(`remove ${channelKey(from)}`),
    ...(opts.sync ? {
      sync: async (rules: readonly TranslationRule[]) => {
        if (failSync-- > 0) throw new Error('batch refused');
        ops.push(`sync ${rules.map((r) => channelKey(r.from)).join(' ')}`);
      },
    } : {}),
  };
  const joiner: Joiner = {
    join: async (c, d) => (check(`join ${channelKey(c)}`), void joined.set(channelKey(c), { channel: c, device: d })),
    leave: async (c) => (check(`leave ${channelKey(c)}`), void joined.delete(channelKey(c))),
    joined: () => [...joined.values()],
    close: async () => undefined,
    ...(opts.joinMany ? {
      joinMany: async (items: readonly JoinedChannel[]) => {
        ops.push(`joinMany ${items.length}`);
        return items.map((j) => (fail.has(`join ${channelKey(j.channel)}`) ? new Error('no such device') : null));
      },
    } : {}),
  };
  const log = (level: string) => (m: string, f?: LogFields) => void logs.push(`${level} ${m}${f ? ` ${JSON.stringify(f)}` : ''}`);
  const stats = { actions: 0, failures: 0 };
  const applier = createKernelApplier({
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    translator,
    joiner,
    phases,
    stats,
  });
  return { applier, ops, logs, fail, stats, failSync: (n: number) => void (failSync = n) };
}

const EGRESS: ApplyPhase[] = [{ kinds: ['leave'], together: true }, { kinds: ['remove', 'upsert'], batchFrom: 2 }, { kinds: ['join'], batchFrom: 2, together: true }];
const INGRESS: ApplyPhase[] = [{ kinds: ['upsert'], batchFrom: 3 }, { kinds: ['join'] }, { kinds: ['leave'] }, { kinds: ['remove'], batchFrom: 3 }];

test('each agent its order: the phases decide, not the order of the plan', async () => {
  const plan = [join(1), upsert(1), remove(2), leave(2)];
  const e = setup(EGRESS);
  assert.equal(await e.applier.apply(plan), true);
  assert.deepEqual(e.ops, ['leave 10.0.0.1,232.1.1.2', 'remove 10.0.0.1,232.1.1.2', 'upsert 10.0.0.1,232.1.1.1', 'join 10.0.0.1,232.1.1.1']);
  const i = setup(INGRESS);
  assert.equal(await i.applier.apply(plan), true);
  assert.deepEqual(i.ops, ['upsert 10.0.0.1,232.1.1.1', 'join 10.0.0.1,232.1.1.1', 'leave 10.0.0.1,232.1.1.2', 'remove 10.0.0.1,232.1.1.2']);
  assert.deepEqual([...i.applier.rules.keys()], ['10.0.0.1,232.1.1.1']);
  assert.equal(i.stats.actions, 4);
  // Each change logged once, at info, with its reason.
  assert.deepEqual(i.logs.filter((l) => l.startsWith('info translate')), ['info translate (10.0.0.1,232.1.1.1) -> (192.0.2.1,232.9.9.1) to lan {"reason":"wanted 1"}']);
});

test('a batch per phase; a failed batch is applied one by one, and one bad change holds back only itself and its join', async () => {
  const a = setup(EGRESS, { sync: true, joinMany: true });
  assert.equal(await a.applier.apply([upsert(1), upsert(2), join(1), join(2)]), true);
  assert.deepEqual(a.ops, ['sync 10.0.0.1,232.1.1.1 10.0.0.1,232.1.1.2', 'joinMany 2']);
  a.ops.length = 0;
  a.failSync(1);
  a.fail.add('upsert 10.0.0.1,232.1.1.4');
  assert.equal(await a.applier.apply([upsert(3), upsert(4), join(3), join(4)]), false);
  assert.deepEqual(a.ops, ['upsert 10.0.0.1,232.1.1.3', 'join 10.0.0.1,232.1.1.3'], 'one join left: no batch; the join of the failed rule waits');
  assert.ok(a.logs.some((l) => l.startsWith('warn failed: 2 translator changes in one batch; applying them one by one')));
  assert.ok(a.logs.some((l) => l.startsWith('warn failed: translate (10.0.0.1,232.1.1.4)') && l.includes('refused')));
  assert.equal(a.stats.failures, 2);
});

test('a change that keeps failing: warn once, then debug until it works, then info', async () => {
  const a = setup(INGRESS);
  a.fail.add('upsert 10.0.0.1,232.1.1.1');
  for (let i = 0; i < 3; i++) assert.equal(await a.applier.apply([upsert(1)]), false);
  a.fail.clear();
  assert.equal(await a.applier.apply([upsert(1)]), true);
  assert.deepEqual(a.logs.map((l) => l.split(' ').slice(0, 3).join(' ')), ['warn failed: translate', 'debug failed: translate', 'debug failed: translate', 'info translate (10.0.0.1,232.1.1.1)']);
});

test('joinMany: each join its own outcome, logged with its change', async () => {
  const a = setup(EGRESS, { sync: true, joinMany: true });
  await a.applier.apply([upsert(1), upsert(2)]);
  a.ops.length = 0;
  a.fail.add('join 10.0.0.1,232.1.1.2');
  assert.equal(await a.applier.apply([join(1), join(2)]), false);
  assert.deepEqual(a.ops, ['joinMany 2']);
  assert.ok(a.logs.some((l) => l.startsWith('warn failed: join (10.0.0.1,232.1.1.2) on wan') && l.includes('no such device')));
  assert.ok(a.logs.some((l) => l.startsWith('info join (10.0.0.1,232.1.1.1) on wan')));
});

test('a failing change dropped from the plan and failing again later is news again (warn)', async () => {
  const a = setup(INGRESS);
  a.fail.add('upsert 10.0.0.1,232.1.1.1');
  await a.applier.apply([upsert(1)]);
  await a.applier.apply([upsert(2)]); // the server took channel 1 back
  await a.applier.apply([upsert(1)]);
  assert.deepEqual(a.logs.filter((l) => l.includes('232.1.1.1')).map((l) => l.split(' ')[0]), ['warn', 'warn']);
});
