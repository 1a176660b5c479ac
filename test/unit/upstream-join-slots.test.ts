import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipSlots } from '../../src/dataplane/upstream-join-slots.ts';

test('25 groups spread over two sockets at 20 groups per socket', () => {
  const s = new MembershipSlots({ maxGroups: 20, maxSourcesPerGroup: 10 });
  const slots = Array.from({ length: 25 }, (_, i) => s.place('10.0.0.1', `232.0.0.${i + 1}`));
  assert.equal(slots.filter((x) => x.created).length, 2);
  assert.equal(slots.filter((x) => x.slot === 0).length, 20);
  assert.equal(slots.filter((x) => x.slot === 1).length, 5);
  assert.equal(s.size, 2);
});

test('sources of one group beyond igmp_max_msf go to another socket; same group is preferred', () => {
  const s = new MembershipSlots({ maxGroups: 20, maxSourcesPerGroup: 2 });
  assert.deepEqual(s.place('10.0.0.1', '232.1.1.1'), { slot: 0, created: true });
  assert.deepEqual(s.place('10.0.0.2', '232.1.1.1'), { slot: 0, created: false });
  assert.deepEqual(s.place('10.0.0.3', '232.1.1.1'), { slot: 1, created: true });
  assert.deepEqual(s.place('10.0.0.3', '232.1.1.1'), { slot: 1, created: false }); // idempotent
  assert.equal(s.find('10.0.0.2', '232.1.1.1'), 0);
  assert.deepEqual(s.members(0), [{ source: '10.0.0.1', group: '232.1.1.1' }, { source: '10.0.0.2', group: '232.1.1.1' }]);
  assert.deepEqual(s.members(7), []);
});

test('removing the last membership of a socket frees its slot for reuse', () => {
  const s = new MembershipSlots({ maxGroups: 1, maxSourcesPerGroup: 1 });
  s.place('10.0.0.1', '232.1.1.1');
  s.place('10.0.0.1', '232.1.1.2');
  assert.deepEqual(s.remove('10.0.0.1', '232.1.1.1'), { slot: 0, emptied: true });
  assert.equal(s.remove('10.0.0.1', '232.1.1.1'), null);
  assert.deepEqual(s.place('10.0.0.1', '232.1.1.3'), { slot: 0, created: true });
  assert.equal(s.size, 2);
});

test('limits below 1 are refused', () => {
  assert.throws(() => new MembershipSlots({ maxGroups: 0, maxSourcesPerGroup: 1 }));
});
