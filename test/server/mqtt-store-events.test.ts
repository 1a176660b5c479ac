// The store seam's channel events, which the MQTT fan-out publishes from:
// each changed channel's mapping as of its change (opened, assigned,
// released), and only once the journal holds it — also for a change made
// while an earlier batch's fsync is still running, which must wait for a sync
// of its own. The embedded store is always the publisher.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../src/host/host.ts';
import { Pool, createSeededRandom } from '../../src/server/state/pool.ts';
import type { ChannelChange } from '../../src/server/state/state-types.ts';
import { EmbeddedStore, openEmbeddedStore } from '../../src/server/store/embedded-store.ts';
import { MnatState, type StateChange } from '../../src/server/state/mnat-state.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function open(dir: string | undefined, groups = '232.255.0.0/29') {
  const pool = Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': groups, 'source-range': 'keep' }] } }, { random: createSeededRandom(1) });
  return openEmbeddedStore({ state: { pool, refreshPeriodS: 10, gracePeriodS: 0, maxJoinsPerWatcher: 4 }, dir, log: quiet, nowMs: 0 });
}

const joins = (...groups: string[]) => groups.map((group, i) => ({ id: String(i), channel: { source: '192.0.2.1', group } }));
const brief = (c: ChannelChange): string => `${c.channel.group}:${c.mapping ? `${c.mapping.state}${c.mapping.local && 'group' in c.mapping.local ? `>${c.mapping.local.group}` : ''}` : 'released'}`;

test('channel events: opened and assigned in one operation is one change; released is a mapping of null; waiting then assigned', async (t) => {
  const store = open(undefined, '232.255.0.1/32');
  t.after(() => store.close());
  assert.equal(store.isPublisher(), true);
  const seen: string[][] = [];
  store.onChannelsChanged((changes) => seen.push(changes.map(brief)));
  await store.createWatcher({ id: 'w1', at: 0 });
  await store.createWatcher({ id: 'w2', at: 0 });
  await store.setJoins({ id: 'w1', joins: joins('232.1.1.1'), at: 1 });
  await store.setJoins({ id: 'w2', joins: joins('232.1.1.2'), at: 1 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, [['232.1.1.1:assigned>232.255.0.1'], ['232.1.1.2:unassigned']]);
  // w1 leaves: its channel is released, and with grace 0 the pool's one group goes to the waiting channel.
  await store.deleteJoins({ id: 'w1', at: 2 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen.at(-1), ['232.1.1.1:released', '232.1.1.2:assigned>232.255.0.1']);
});

/**
 * A journal whose syncs the test completes by hand, with the real contract:
 * sync() resolves once every record appended before the call is durable.
 */
function handJournal() {
  const appended: StateChange[] = [];
  const durable = new Set<StateChange>();
  const syncs: Array<{ upTo: number; resolve: () => void }> = [];
  return {
    durable,
    syncs,
    journal: {
      append: (r: StateChange) => void appended.push(r),
      sync: () => new Promise<void>((resolve) => syncs.push({ upTo: appended.length, resolve })),
      onFailure: null,
      stats: { records: 0, fsyncs: 0, compactions: 0, bytesWritten: 0 },
      wantsCompaction: () => false,
      close: async () => undefined,
    },
    /** Completes the oldest pending sync. */
    finishOne() {
      const s = syncs.shift()!;
      for (const r of appended.slice(0, s.upTo)) durable.add(r);
      s.resolve();
    },
    recordOf: (group: string) => appended.find((r) => JSON.stringify(r).includes(`"${group}"`)),
  };
}

test('channel events come only once the journal holds the change, also for a change made while an earlier sync runs', async () => {
  const hand = handJournal();
  const pool = Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/29', 'source-range': 'keep' }] } }, { random: createSeededRandom(1) });
  const stateOptions = { pool, refreshPeriodS: 10, gracePeriodS: 0 };
  const store = new EmbeddedStore(new MnatState(stateOptions), hand.journal as never, { log: quiet, dir: undefined, state: stateOptions });
  const problems: string[] = [];
  const told: string[] = [];
  store.onChannelsChanged((changes) => {
    for (const c of changes) {
      told.push(c.channel.group);
      if (!hand.durable.has(hand.recordOf(c.channel.group)!)) problems.push(`${c.channel.group} told before its record was durable`);
    }
  });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  const w = [store.createWatcher({ id: 'w1', at: 0 }), store.createWatcher({ id: 'w2', at: 0 })];
  await settle();
  while (hand.syncs.length > 0) hand.finishOne();
  await Promise.all(w);
  const first = store.setJoins({ id: 'w1', joins: joins('232.1.1.1'), at: 1 });
  await settle(); // the first change's batch is sealed and waits for its sync
  const asked = hand.syncs.length;
  const second = store.setJoins({ id: 'w2', joins: joins('232.1.1.2'), at: 2 });
  await settle();
  for (let i = 0; i < asked; i++) hand.finishOne(); // the syncs asked for before the second change
  await settle();
  assert.deepEqual(told, ['232.1.1.1'], 'only the first change is told');
  while (hand.syncs.length > 0) hand.finishOne();
  await Promise.all([first, second]);
  await settle();
  assert.deepEqual(told, ['232.1.1.1', '232.1.1.2']);
  assert.deepEqual(problems, []);
});
