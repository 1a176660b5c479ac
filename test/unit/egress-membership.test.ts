import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipTable } from '../../src/egress/membership/membership-table.ts';
import { channelKey } from '../../src/core/channel.ts';

const A = { source: '10.1.1.1', group: '232.1.1.1' };
const B = { source: '2001:db8::1', group: 'ff3e::8000:1' };
const keys = (cs: { source: string; group: string }[]): string[] => cs.map(channelKey);

test('a channel stays while any holder remains; the last leave removes it once', () => {
  const t = new MembershipTable();
  assert.deepEqual(keys(t.update('mdb', [{ channel: A, holders: ['p1', 'p2'] }]).added), [channelKey(A)]);
  const oneLeft = t.update('mdb', [{ channel: A, holders: ['p2'] }]);
  assert.deepEqual(oneLeft, { added: [], removed: [] });
  assert.deepEqual(t.holders(A), ['mdb:p2']);
  const last = t.update('mdb', []);
  assert.deepEqual(keys(last.removed), [channelKey(A)]);
  assert.equal(t.size, 0);
});

test('inputs are unioned: the control file keeps a channel the LAN left', () => {
  const t = new MembershipTable();
  t.update('mdb', [{ channel: A, holders: ['p1'] }]);
  assert.deepEqual(t.update('control-file', [{ channel: A, holders: ['3'] }, { channel: B, holders: ['4'] }]).added.map(channelKey), [channelKey(B)]);
  assert.deepEqual(t.update('mdb', []), { added: [], removed: [] });
  assert.deepEqual(keys(t.channels()), [channelKey(A), channelKey(B)].sort());
  assert.deepEqual(keys(t.remove('control-file').removed).sort(), [channelKey(A), channelKey(B)].sort());
});

test('holderless entries and duplicates are folded', () => {
  const t = new MembershipTable();
  const c = t.update('mdb', [{ channel: A, holders: [] }, { channel: B, holders: ['p1'] }, { channel: B, holders: ['p2', 'p1'] }]);
  assert.deepEqual(keys(c.added), [channelKey(B)]);
  assert.deepEqual(t.holders(B), ['mdb:p1', 'mdb:p2']);
});
