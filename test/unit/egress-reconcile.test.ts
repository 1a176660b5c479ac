import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planEgress, selectDesired, type EgressPlanInput } from '../../src/egress/egress-reconcile.ts';
import { applyKernelChanges, describeChange } from '../../src/agent/kernel-change.ts';
import type { TranslationRule } from '../../src/dataplane/translator.ts';
import type { JoinedChannel } from '../../src/dataplane/upstream-join.ts';
import { channelKey, type Channel } from '../../src/core/channel.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';

const G1: Channel = { source: '23.212.185.4', group: '232.1.1.1' };
const G2: Channel = { source: '23.212.185.5', group: '232.1.1.2' };
const G6: Channel = { source: '2001:db8::1', group: 'ff3e::8000:1' };
const L1: Channel = { source: '10.9.0.1', group: '239.1.0.1' };
const L2: Channel = { source: '10.9.0.1', group: '239.1.0.2' };
const L6: Channel = { source: 'fd00::1', group: 'ff35::1' };
const assigned = (id: number, global: Channel, local: Channel): MappedChannel => ({ id, global, state: 'assigned', local });

function input(over: Partial<EgressPlanInput>): EgressPlanInput {
  return { desired: [], assignments: [], rules: [], joins: [], upstream: 'wan', downstream: 'br-lan', ...over };
}

/** Plans, applies, and checks that planning again yields nothing. */
function converge(i: EgressPlanInput): { rules: TranslationRule[]; joins: JoinedChannel[]; kinds: string[] } {
  const plan = planEgress(i);
  const after = applyKernelChanges(i, plan.actions);
  assert.deepEqual(planEgress({ ...i, ...after }).actions, [], 'a second plan must be empty');
  return { ...after, kinds: plan.actions.map((a) => `${a.kind} ${describeChange(a)}`) };
}

test('a new assignment: rule first, then the WAN join, each with a reason', () => {
  const plan = planEgress(input({ desired: [G1], assignments: [assigned(7, G1, L1)] }));
  assert.deepEqual(plan.actions.map((a) => a.kind), ['upsert', 'join']);
  assert.deepEqual(plan.actions[0], {
    kind: 'upsert',
    rule: { from: L1, to: G1, outputs: ['br-lan'] },
    reason: 'LAN wants (23.212.185.4,232.1.1.1), server maps it to (10.9.0.1,239.1.0.1) (assignment 7)',
  });
  assert.deepEqual(plan.actions[1], { kind: 'join', channel: L1, device: 'wan', reason: plan.actions[0]!.reason });
  assert.deepEqual(plan.mappings, [{ global: G1, local: L1, id: 7, status: 'active' }]);
});

test('desired but not yet assigned: nothing in the kernel, status waiting', () => {
  const plan = planEgress(input({ desired: [G1, G2], assignments: [{ id: 3, global: G2, state: 'unassigned', local: null }] }));
  assert.deepEqual(plan.actions, []);
  assert.deepEqual(plan.mappings.map((m) => [m.status, m.id]), [['waiting', null], ['waiting', 3]]);
});

test('last leave: leave before removing the rule; assignments the LAN no longer wants are ignored', () => {
  const state = { rules: [{ from: L1, to: G1, outputs: ['br-lan'] }], joins: [{ channel: L1, device: 'wan' }] };
  const r = converge(input({ desired: [], assignments: [assigned(7, G1, L1)], ...state }));
  assert.deepEqual(r.kinds, ['leave leave (10.9.0.1,239.1.0.1) on wan', 'remove stop translating (10.9.0.1,239.1.0.1)']);
  assert.deepEqual(r.rules, []);
  assert.deepEqual(r.joins, []);
  const plan = planEgress(input({ desired: [], assignments: [], ...state }));
  assert.match(plan.actions[0]!.reason, /no LAN host wants \(23\.212\.185\.4,232\.1\.1\.1\)/);
});

test('server withdraws a mapping while the LAN still wants it', () => {
  const state = { rules: [{ from: L1, to: G1, outputs: ['br-lan'] }], joins: [{ channel: L1, device: 'wan' }] };
  const plan = planEgress(input({ desired: [G1], assignments: [{ id: 7, global: G1, state: 'unassigned', local: null }], ...state }));
  assert.deepEqual(plan.actions.map((a) => a.kind), ['leave', 'remove']);
  assert.match(plan.actions[0]!.reason, /server withdrew the mapping/);
});

test('remap to another local: new rule and join, old ones go (removals first)', () => {
  const state = { rules: [{ from: L1, to: G1, outputs: ['br-lan'] }], joins: [{ channel: L1, device: 'wan' }] };
  const r = converge(input({ desired: [G1], assignments: [assigned(8, G1, L2)], ...state }));
  assert.deepEqual(r.kinds.map((k) => k.split(' ')[0]), ['leave', 'remove', 'upsert', 'join']);
  assert.deepEqual(r.rules, [{ from: L2, to: G1, outputs: ['br-lan'] }]);
  assert.deepEqual(r.joins, [{ channel: L2, device: 'wan' }]);
});

test('a local channel reused for another global is rewritten in place, join kept', () => {
  const state = { rules: [{ from: L1, to: G1, outputs: ['br-lan'] }], joins: [{ channel: L1, device: 'wan' }] };
  const plan = planEgress(input({ desired: [G2], assignments: [assigned(9, G2, L1)], ...state }));
  assert.deepEqual(plan.actions.map((a) => a.kind), ['upsert']);
  assert.match(plan.actions[0]!.reason, /now carries \(23\.212\.185\.5,232\.1\.1\.2\) instead of/);
});

test('interfaces renamed by a reload: re-point the rule, move the join', () => {
  const state = { rules: [{ from: L1, to: G1, outputs: ['br-lan'] }], joins: [{ channel: L1, device: 'wan' }] };
  const r = converge(input({ desired: [G1], assignments: [assigned(7, G1, L1)], upstream: 'pppoe-wan', downstream: 'br-home', ...state }));
  assert.deepEqual(r.kinds, [
    'leave leave (10.9.0.1,239.1.0.1) on wan',
    'upsert translate (10.9.0.1,239.1.0.1) -> (23.212.185.4,232.1.1.1) to br-home',
    'join join (10.9.0.1,239.1.0.1) on pppoe-wan',
  ]);
});

test('unchanged state plans nothing; stray joins and rules from before are cleaned', () => {
  const ok = { rules: [{ from: L6, to: G6, outputs: ['br-lan'] }], joins: [{ channel: L6, device: 'wan' }] };
  assert.deepEqual(planEgress(input({ desired: [G6], assignments: [assigned(1, G6, L6)], ...ok })).actions, []);
  const stray = converge(input({ desired: [G6], assignments: [assigned(1, G6, L6)], rules: [...ok.rules, { from: L2, to: G2, outputs: ['br-lan'] }], joins: [...ok.joins, { channel: L1, device: 'wan' }] }));
  assert.deepEqual(stray.kinds.map((k) => k.split(' ')[0]).sort(), ['leave', 'remove']);
});

test('ASM local mappings and conflicting locals are reported, not installed', () => {
  const plan = planEgress(input({
    desired: [G1, G2, G6],
    assignments: [assigned(1, G1, L1), assigned(2, G2, L1), { id: 3, global: G6, state: 'assigned', local: { asmGroup: 'ff35::9' } }],
  }));
  assert.deepEqual(plan.actions.map((a) => a.kind), ['upsert', 'join']);
  assert.deepEqual(plan.mappings.map((m) => [m.id, m.status]), [[3, 'unsupported'], [1, 'active'], [2, 'conflict']]);
  // The installed one keeps the local channel even with a higher id.
  const installed = planEgress(input({
    desired: [G1, G2],
    assignments: [assigned(1, G1, L1), assigned(2, G2, L1)],
    rules: [{ from: L1, to: G2, outputs: ['br-lan'] }],
    joins: [{ channel: L1, device: 'wan' }],
  }));
  assert.deepEqual(installed.actions, []);
  assert.deepEqual(installed.mappings.map((m) => [m.id, m.status]), [[1, 'conflict'], [2, 'active']]);
});

test('many channels converge in one plan', () => {
  const desired: Channel[] = [];
  const assignments: MappedChannel[] = [];
  for (let i = 0; i < 32; i++) {
    const g = { source: '23.212.185.4', group: `232.1.1.${i + 1}` };
    desired.push(g);
    assignments.push(assigned(i, g, { source: '10.9.0.1', group: `239.1.0.${i + 1}` }));
  }
  const r = converge(input({ desired, assignments }));
  assert.equal(r.rules.length, 32);
  assert.equal(r.joins.length, 32);
});

test('max channels: active ones keep their place, the rest by key order', () => {
  const active = new Set([channelKey(G2)]);
  const s = selectDesired([G6, G1, G2], active, 2);
  assert.deepEqual(s.accepted, [G2, G6]); // '2001:…' sorts before '23.…'
  assert.deepEqual(s.rejected, [G1]);
  assert.deepEqual(selectDesired([G1], new Set(), 0).rejected, [G1]);
});

test('server restarted and does not list a channel yet: the working translation is held', () => {
  const state = { rules: [{ from: L1, to: G1, outputs: ['br-lan'] }], joins: [{ channel: L1, device: 'wan' }] };
  const held = planEgress(input({ desired: [G1, G2], assignments: [], ...state }));
  assert.deepEqual(held.actions, []);
  assert.deepEqual(held.mappings.map((m) => [m.status, m.local]), [['held', L1], ['waiting', null]]);
  // Held rules still follow interface changes.
  const moved = converge(input({ desired: [G1], assignments: [], upstream: 'wan2', ...state }));
  assert.deepEqual(moved.joins, [{ channel: L1, device: 'wan2' }]);
  // Once listed with another local, the new mapping replaces it.
  const remapped = converge(input({ desired: [G1], assignments: [assigned(4, G1, L2)], ...state }));
  assert.deepEqual(remapped.rules, [{ from: L2, to: G1, outputs: ['br-lan'] }]);
});
