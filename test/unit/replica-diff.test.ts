// What subscribers hear when a front end's replica is replaced (a reload from
// etcd): watchers gone or mapped differently, and channels mapped differently
// or gone (MQTT fan-out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JoinedSg } from '../../src/protocol/model.ts';
import { Pool, createSeededRandom } from '../../src/server/state/pool.ts';
import { MnatState } from '../../src/server/state/mnat-state.ts';
import { channelDifferences, watcherDifferences } from '../../src/server/store/replica-diff.ts';

/** Two states built the same way (same seed, same ids) up to where a test makes them differ. */
function state(): MnatState {
  let n = 0;
  const pool = Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/16', 'source-range': '10.9.0.0/24' }] } }, { random: createSeededRandom(7) });
  return new MnatState({ pool, refreshPeriodS: 10, gracePeriodS: 0, maxJoinsPerWatcher: 8, newWatcherId: () => `w${++n}` });
}
const join = (id: string, group: string): JoinedSg => ({ id, channel: { source: '192.0.2.1', group } });

test('the same states: nothing to tell', () => {
  const [a, b] = [state(), state()];
  for (const s of [a, b]) s.setEgressJoins(s.createWatcher(0).id, [join('1', '232.1.1.1')], 0);
  assert.deepEqual(watcherDifferences(a, b), { removed: [], changed: [] });
  assert.deepEqual(channelDifferences(a, b), []);
});

test('a watcher the new state lacks is removed and changed; one mapped differently is changed; channels follow', () => {
  const [old, next] = [state(), state()];
  for (const s of [old, next]) {
    s.setEgressJoins(s.createWatcher(0).id, [join('1', '232.1.1.1')], 0);
    s.createWatcher(0);
  }
  old.setEgressJoins('w1', [join('1', '232.1.1.1'), join('2', '232.2.2.2')], 1);
  old.setEgressJoins('w2', [join('1', '232.3.3.3')], 1);
  next.deleteWatcher('w2', 1);
  assert.deepEqual(watcherDifferences(old, next), { removed: ['w2'], changed: ['w1', 'w2'] });
  const lost = channelDifferences(old, next);
  assert.deepEqual(lost.map((c) => [c.channel.group, c.mapping]).sort(), [['232.2.2.2', null], ['232.3.3.3', null]]);
  // The other way round, the channels come (back) with their mappings.
  const found = channelDifferences(next, old);
  assert.deepEqual(found.map((c) => c.channel.group).sort(), ['232.2.2.2', '232.3.3.3']);
  assert.ok(found.every((c) => c.mapping !== null && 'group' in c.mapping.local!));
});
