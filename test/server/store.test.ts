// The store seam (src/server/store/): changes resolve when durable, refusals
// reject with the state machine's MnatError and write nothing, events fire only
// after the journal holds the change, refresh writes nothing, and intents are
// plain JSON that rebuild the same state when applied in order elsewhere (what
// a replicated store relies on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../src/host/host.ts';
import { MnatError, MnatState, type MnatStateOptions, type StateChange, type StateSnapshot } from '../../src/server/state/mnat-state.ts';
import { Pool, createSeededRandom } from '../../src/server/state/pool.ts';
import { applyIntent } from '../../src/server/store/apply-intent.ts';
import { openEmbeddedStore, StateRestoreError, type EmbeddedStore } from '../../src/server/store/embedded-store.ts';
import { Journal } from '../../src/server/store/journal.ts';
import type { StoreIntent } from '../../src/server/store/store.ts';
import { tempDir } from './helpers.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const RANGES = [{ 'group-range': '232.255.0.0/29', 'source-range': 'keep' }];

function stateOptions(seed = 1, ranges: unknown[] = RANGES): MnatStateOptions {
  return { pool: Pool.fromJson({ 'group-pool': { ranges } }, { random: createSeededRandom(seed) }), refreshPeriodS: 10, gracePeriodS: 5, maxJoinsPerWatcher: 4 };
}

function open(dir: string | undefined, seed = 1): EmbeddedStore {
  return openEmbeddedStore({ state: stateOptions(seed), dir, log: quiet, nowMs: 0 });
}

const joins = (...groups: string[]) => groups.map((group, i) => ({ id: String(i), channel: { source: '192.0.2.1', group } }));

function journalRecords(dir: string): number {
  return readFileSync(join(dir, 'journal.log'), 'utf8').split('\n').filter((l) => l !== '').length;
}

test('a change resolves once the journal has synced it; its event comes after that', async (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  t.after(() => store.close());
  const seen: Array<{ ids: readonly string[]; fsyncs: number }> = [];
  store.onWatchersChanged((ids) => {
    const backend = store.stats().backend;
    seen.push({ ids, fsyncs: backend.kind === 'journal' ? backend.fsyncs : -1 });
  });
  await store.createWatcher({ id: 'w1', owner: 'cert-a', at: 0 });
  const before = store.stats().backend;
  assert.equal(before.kind, 'journal');
  const fsyncsBefore = before.kind === 'journal' ? before.fsyncs : 0;
  const recordsBefore = journalRecords(dir);
  const put = store.setJoins({ id: 'w1', joins: joins('232.1.1.1'), at: 1 });
  assert.equal(store.assignedChannels('w1').length, 1, 'reads see the change at once');
  assert.equal(seen.length, 0, 'no event before durability');
  await put;
  assert.ok(journalRecords(dir) > recordsBefore, 'the records are in the file when the change resolves');
  await new Promise((r) => setImmediate(r));
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.ids, ['w1']);
  assert.ok(seen[0]!.fsyncs > fsyncsBefore, 'the event fired after an fsync');
  assert.deepEqual(store.watchersOwnedBy('cert-a'), ['w1']);
});

test('refusals reject with MnatError and write nothing; refresh writes nothing', async (t) => {
  const dir = tempDir(t);
  const store = open(dir);
  t.after(() => store.close());
  await store.createWatcher({ id: 'w1', at: 0 });
  const records = journalRecords(dir);
  const refused = async (p: Promise<void>, kind: string): Promise<void> => {
    await assert.rejects(p, (e: unknown) => e instanceof MnatError && e.kind === kind);
  };
  await refused(store.setJoins({ id: 'nobody', joins: joins('232.1.1.1'), at: 1 }), 'unknown-watcher');
  await refused(store.setJoins({ id: 'w1', joins: joins('10.0.0.1'), at: 1 }), 'invalid-value');
  await refused(store.setJoins({ id: 'w1', joins: joins('232.1.1.1', '232.1.1.2', '232.1.1.3', '232.1.1.4', '232.1.1.5'), at: 1 }), 'too-many-joins');
  await refused(store.createWatcher({ id: 'w1', at: 1 }), 'id-in-use');
  assert.equal(store.refreshWatcher('w1', 2), 10);
  assert.throws(() => store.refreshWatcher('nobody', 2), MnatError);
  await store.tick(3);
  assert.equal(journalRecords(dir), records, 'nothing journaled');
  assert.equal(store.roleOf('w1'), 'none');
});

test('a restart restores watchers, owners and mappings; a journal the state cannot take is refused', async (t) => {
  const dir = tempDir(t);
  const first = open(dir);
  await first.createWatcher({ id: 'w1', owner: 'cert-a', at: 0 });
  await first.setJoins({ id: 'w1', joins: joins('232.1.1.1', '232.1.1.2'), at: 1 });
  const mapped = first.assignedChannels('w1').map((c) => c.local);
  await first.close();
  const second = open(dir, 99);
  t.after(() => second.close());
  assert.deepEqual(second.watchersOwnedBy('cert-a'), ['w1']);
  assert.deepEqual(second.assignedChannels('w1').map((c) => c.local), mapped, 'the same local mappings');
  await second.close();
  // A journal record the state cannot take (here: joins of a watcher that does not exist).
  const journal = new Journal<StateSnapshot, StateChange>({ dir, log: quiet });
  journal.load();
  journal.append({ op: 'joins-set', id: 'ghost', joins: [['0', '192.0.2.1', '232.1.1.9']], at: 5 });
  await journal.close();
  assert.throws(() => open(dir), StateRestoreError);
});

// Under the embedded store's conditions: the same pool seed, and no watcher
// expiry (expiry follows refreshes, which are liveness and not intents; a
// replicated store makes expiry an intent of its own).
test('intents are plain JSON: applied in the same order to another state machine they give the same state', async () => {
  for (const seed of [1, 2, 3]) {
    const rnd = createSeededRandom(seed);
    const store = open(undefined, 7);
    const log: string[] = [];
    const ids: string[] = [];
    let at = 0;
    for (let step = 0; step < 400; step++) {
      at += Math.floor(rnd() * 50); // 400 steps stay inside the 30 s expiry window; grace (5 s) ends on the way
      const id = ids[Math.floor(rnd() * ids.length)] ?? 'none';
      const r = rnd();
      const groups = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => `232.9.0.${1 + Math.floor(rnd() * 12)}`);
      const intent: StoreIntent =
        r < 0.15 || ids.length === 0
          ? { op: 'create-watcher', id: `w${step}`, ...(rnd() < 0.5 ? { owner: 'cert' } : {}), at }
          : r < 0.45
            ? { op: 'set-joins', id, joins: joins(...groups), at }
            : r < 0.6
              ? { op: 'merge-joins', id, joins: joins(...groups), at }
              : r < 0.7
                ? { op: 'set-monitors', id, monitors: [{ id: 'm', globalSourcePrefix: '192.0.2.0/24' }], at }
                : r < 0.78
                  ? { op: 'delete-joins', id, at }
                  : r < 0.83
                    ? { op: 'delete-watcher', id, at }
                    : { op: 'tick', at };
      if (intent.op === 'create-watcher') ids.push(intent.id);
      const { op, ...args } = intent;
      const call = {
        'create-watcher': () => store.createWatcher(args as never),
        'delete-watcher': () => store.deleteWatcher(args as never),
        'set-joins': () => store.setJoins(args as never),
        'merge-joins': () => store.mergeJoins(args as never),
        'delete-joins': () => store.deleteJoins(args as never),
        'set-monitors': () => store.setMonitors(args as never),
        'merge-monitors': () => store.mergeMonitors(args as never),
        'delete-monitors': () => store.deleteMonitors(args as never),
        tick: () => store.tick(intent.at),
      }[op];
      // Refused intents stay in the log: every replica refuses them the same way.
      await call().catch((e: unknown) => assert.ok(e instanceof MnatError, String(e)));
      log.push(JSON.stringify(intent));
    }
    const replica = new MnatState(stateOptions(7));
    for (const line of log) {
      try {
        applyIntent(replica, JSON.parse(line) as StoreIntent);
      } catch (e) {
        assert.ok(e instanceof MnatError, String(e));
      }
    }
    const view = (s: { hasWatcher(id: string): boolean; assignedChannels(id: string): unknown; ownerOf(id: string): unknown }) =>
      JSON.stringify(ids.filter((id) => s.hasWatcher(id)).map((id) => [id, s.ownerOf(id), s.assignedChannels(id)]));
    assert.equal(view(replica), view(store), `seed ${seed}: the replica holds the same watchers and mappings`);
    assert.equal(JSON.stringify(replica.channels()), JSON.stringify(store.channels()), `seed ${seed}: the same channel records`);
    assert.ok(store.stats().channelsAssigned > 0 && store.stats().channelsUnassigned > 0, 'the walk assigned channels and exhausted the pool');
    await store.close();
  }
});
