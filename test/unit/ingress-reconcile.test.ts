import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeChange } from '../../src/agent/kernel-change.ts';
import {
  planIngress,
  type IngressConfig,
  type IngressKernelState,
} from '../../src/ingress/ingress-reconcile.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';

const config: IngressConfig = {
  monitors: ['0.0.0.0/0', '::/0'],
  upstreamInterface: 'up0',
  downstreamInterfaces: ['down0'],
  join: true,
};
const empty: IngressKernelState = { rules: [], joins: [] };
const G1 = { source: '23.212.185.4', group: '232.1.1.1' };
const L1 = { source: '10.99.0.1', group: '232.255.0.1' };
const G2 = { source: '2001:db8::5', group: 'ff3e::1' };
const L2 = { source: 'fd00::1', group: 'ff35::100' };

const assigned = (id: number, global: typeof G1, local: typeof L1): MappedChannel => ({
  id,
  global,
  state: 'assigned',
  local,
});

test('a new assignment: upsert the rule first, then join upstream', () => {
  const plan = planIngress([assigned(1, G1, L1)], config, empty);
  assert.deepEqual(
    plan.actions.map((a) => a.kind),
    ['upsert', 'join'],
  );
  const [upsert, join] = plan.actions;
  assert.equal(upsert?.kind, 'upsert');
  if (upsert?.kind === 'upsert') assert.deepEqual(upsert.rule, { from: G1, to: L1, outputs: ['down0'] });
  if (join?.kind === 'join') assert.deepEqual([join.channel, join.device], [G1, 'up0']);
  assert.deepEqual(plan.desired, [{ id: 1, global: G1, local: L1 }]);
  assert.match(describeChange(upsert!), /translate \(23\.212\.185\.4,232\.1\.1\.1\) -> \(10\.99\.0\.1,232\.255\.0\.1\)/);
});

test('converged state gives no actions', () => {
  const kernel: IngressKernelState = {
    rules: [{ from: G1, to: L1, outputs: ['down0'] }],
    joins: [{ channel: G1, device: 'up0' }],
  };
  assert.deepEqual(planIngress([assigned(1, G1, L1)], config, kernel).actions, []);
});

test('kernel state in another spelling of the same addresses is recognised', () => {
  const kernel: IngressKernelState = {
    rules: [{ from: G2, to: { source: 'FD00:0::1', group: 'FF35::0100' }, outputs: ['down0'] }],
    joins: [{ channel: { source: '2001:DB8::5', group: 'ff3e:0::1' }, device: 'up0' }],
  };
  assert.deepEqual(planIngress([assigned(2, G2, L2)], config, kernel).actions, []);
});

test('unassigned channels and channels without a local mapping do nothing', () => {
  const plan = planIngress(
    [
      { id: 1, global: G1, state: 'unassigned', local: null },
      { id: 2, global: G2, state: 'assigned', local: null },
    ],
    config,
    empty,
  );
  assert.deepEqual(plan.actions, []);
  assert.deepEqual(plan.desired, []);
  assert.deepEqual(plan.skipped, []);
});

test('a released channel: leave upstream, then remove the rule', () => {
  const kernel: IngressKernelState = {
    rules: [{ from: G1, to: L1, outputs: ['down0'] }],
    joins: [{ channel: G1, device: 'up0' }],
  };
  const plan = planIngress([], config, kernel);
  assert.deepEqual(
    plan.actions.map((a) => a.kind),
    ['leave', 'remove'],
  );
  assert.match(plan.actions[0]!.reason, /no longer assigned/);
});

test('a changed mapping is one upsert of the same key, no remove (no gap), no rejoin', () => {
  const kernel: IngressKernelState = {
    rules: [{ from: G1, to: L1, outputs: ['down0'] }],
    joins: [{ channel: G1, device: 'up0' }],
  };
  const L1b = { source: '10.99.0.1', group: '232.255.0.7' };
  const plan = planIngress([assigned(9, G1, L1b)], config, kernel);
  assert.equal(plan.actions.length, 1);
  const a = plan.actions[0]!;
  assert.equal(a.kind, 'upsert');
  if (a.kind === 'upsert') {
    assert.deepEqual(a.rule.to, L1b);
    assert.match(a.reason, /mapping changed id=9 \(10\.99\.0\.1,232\.255\.0\.1\) -> \(10\.99\.0\.1,232\.255\.0\.7\)/);
  }
});

test('changed outputs are re-upserted', () => {
  const kernel: IngressKernelState = { rules: [{ from: G1, to: L1, outputs: ['down0'] }], joins: [] };
  const plan = planIngress(
    [assigned(1, G1, L1)],
    { ...config, downstreamInterfaces: ['down0', 'down1'], join: false },
    kernel,
  );
  assert.equal(plan.actions.length, 1);
  assert.match(plan.actions[0]!.kind === 'upsert' ? plan.actions[0]!.reason : '', /outputs changed down0 -> down0\+down1/);
});

test('--no-join translates but never joins, and leaves joins it holds', () => {
  const noJoin = { ...config, join: false };
  assert.deepEqual(
    planIngress([assigned(1, G1, L1)], noJoin, empty).actions.map((a) => a.kind),
    ['upsert'],
  );
  const plan = planIngress([assigned(1, G1, L1)], noJoin, {
    rules: [{ from: G1, to: L1, outputs: ['down0'] }],
    joins: [{ channel: G1, device: 'up0' }],
  });
  assert.deepEqual(plan.actions.map((a) => a.kind), ['leave']);
  assert.match(plan.actions[0]!.reason, /--no-join/);
  // The joinfile still lists it: an ingest manager does the joining.
  assert.deepEqual(plan.desired.map((d) => d.global), [G1]);
});

test('a join on another device than the upstream interface is moved', () => {
  const plan = planIngress([assigned(1, G1, L1)], config, {
    rules: [{ from: G1, to: L1, outputs: ['down0'] }],
    joins: [{ channel: G1, device: 'old0' }],
  });
  assert.deepEqual(plan.actions.map((a) => a.kind), ['join', 'leave']);
  assert.match(plan.actions[1]!.reason, /not the upstream interface up0/);
});

test('monitors restrict which sources are carried', () => {
  const plan = planIngress([assigned(1, G1, L1), assigned(2, G2, L2)], { ...config, monitors: ['2001:db8::/32'] }, empty);
  assert.deepEqual(plan.desired.map((d) => d.id), [2]);
  assert.deepEqual(plan.skipped, [{ id: 1, global: G1, reason: 'source not in any monitor' }]);
});

test('an invalid monitor is an error naming it', () => {
  assert.throws(() => planIngress([], { ...config, monitors: ['10.0.0.1/8'] }, empty), /monitor "10\.0\.0\.1\/8".*host bits/);
});

test('two globals on one local channel: the lower id wins, the other is skipped with a reason', () => {
  const G3 = { source: '198.51.100.9', group: '232.1.1.9' };
  const plan = planIngress([assigned(5, G3, L1), assigned(3, G1, L1)], config, empty);
  assert.deepEqual(plan.desired.map((d) => d.id), [3]);
  assert.match(plan.skipped[0]?.reason ?? '', /already carries \(23\.212\.185\.4,232\.1\.1\.1\) \(id=3\)/);
});

test('a local mapping of another family is skipped', () => {
  const plan = planIngress([assigned(1, G1, L2)], config, empty);
  assert.deepEqual(plan.desired, []);
  assert.match(plan.skipped[0]?.reason ?? '', /another IP family/);
});

test('an ASM local mapping keeps the global source', () => {
  const plan = planIngress([{ id: 4, global: G1, state: 'assigned', local: { asmGroup: '239.1.2.3' } }], config, empty);
  assert.deepEqual(plan.desired, [{ id: 4, global: G1, local: { source: G1.source, group: '239.1.2.3' } }]);
});

test('actions are ordered: upserts, joins, leaves, removes; each group sorted', () => {
  const G3 = { source: '9.9.9.9', group: '232.1.1.3' };
  const L3 = { source: '10.99.0.1', group: '232.255.0.3' };
  const kernel: IngressKernelState = {
    rules: [{ from: G2, to: L2, outputs: ['down0'] }, { from: G3, to: { ...L3, group: '232.255.0.4' }, outputs: ['down0'] }],
    joins: [{ channel: G2, device: 'up0' }, { channel: G3, device: 'up0' }],
  };
  const plan = planIngress([assigned(1, G1, L1), assigned(3, G3, L3)], config, kernel);
  assert.deepEqual(
    plan.actions.map((a) => `${a.kind} ${a.kind === 'remove' ? a.from.group : a.kind === 'upsert' ? a.rule.from.group : a.channel.group}`),
    ['upsert 232.1.1.3', 'upsert 232.1.1.1', 'join 232.1.1.1', 'leave ff3e::1', 'remove ff3e::1'],
  );
});
