// Compaction never stops the event loop and happens under continuous writes:
// the journal is rotated between two group commits and a worker thread folds
// the closed journal into the next snapshot with the state machine's own
// replay code. The main thread never serialises the whole state; what a
// restart loads (snapshot + journals) is exactly the live state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../src/host/host.ts';
import { MnatState, type MnatStateOptions } from '../../src/server/state/mnat-state.ts';
import { createSeededRandom, Pool } from '../../src/server/state/pool.ts';
import { openEmbeddedStore, type EmbeddedStore } from '../../src/server/store/embedded-store.ts';
import { client, joinsBody, newWatcher, req, startServer, tempDir } from './helpers.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function options(): MnatStateOptions {
  return {
    pool: Pool.fromJson({ 'group-pool': { ranges: [{ 'group-range': '232.255.0.0/24', 'source-range': 'keep' }] } }, { random: createSeededRandom(5) }),
    refreshPeriodS: 10,
    gracePeriodS: 1,
    maxJoinsPerWatcher: 8,
    maxWatchersPerAddress: 1000,
    newWatchersPerMinute: 600,
    newWatcherBurst: 50,
  };
}

/** Everything a client can read of the store, for comparing two stores. */
function view(store: EmbeddedStore, ids: readonly string[]): unknown {
  return {
    stats: { ...store.stats(), backend: null, readOnly: null },
    channels: store.channels(),
    watchers: ids.filter((id) => store.hasWatcher(id)).map((id) => [id, store.ownerOf(id), store.roleOf(id), store.egressJoins(id), store.ingressMonitors(id), store.assignedChannels(id)]),
  };
}

test('compaction under continuous writes: rotated between commits, folded by a worker thread, never serialised on the main thread; a restart loads the same state', async (t) => {
  const dir = tempDir(t);
  const store = openEmbeddedStore({ state: options(), dir, log: quiet, nowMs: 0, compactBytes: 16 * 1024 });
  t.after(() => store.close());
  // The main thread must not serialise the state: fail loudly if it tries.
  const snapshot = MnatState.prototype.snapshot;
  MnatState.prototype.snapshot = () => {
    throw new Error('the main thread serialised the whole state');
  };
  t.after(() => void (MnatState.prototype.snapshot = snapshot));
  const rnd = createSeededRandom(11);
  const ids: string[] = [];
  let at = 1000;
  // Keep writing until two compactions have happened while writes were in flight.
  for (let step = 0; ; step++) {
    assert.ok(step < 20_000, 'no compaction after 20 000 changes');
    const backend = store.stats().backend;
    if (backend.kind === 'journal' && backend.compactions >= 2) break;
    at += 5;
    const inFlight: Array<Promise<void>> = [];
    for (let k = 0; k < 8; k++) {
      const id = ids[Math.floor(rnd() * ids.length)];
      const r = rnd();
      if (id === undefined || r < 0.2) {
        const nid = `w${step}.${k}`;
        ids.push(nid);
        inFlight.push(store.createWatcher({ id: nid, creator: `192.0.2.${step % 200}`, at }).catch(() => undefined));
      } else if (r < 0.85) {
        const joins = Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, j) => ({ id: String(j), channel: { source: '198.51.100.1', group: `232.1.${Math.floor(rnd() * 4)}.${Math.floor(rnd() * 250)}` } }));
        inFlight.push(store.setJoins({ id, joins, at }).catch(() => undefined));
      } else if (r < 0.95) {
        inFlight.push(store.deleteJoins({ id, at }).catch(() => undefined));
      } else {
        inFlight.push(store.deleteWatcher({ id, at }).catch(() => undefined));
      }
      if (store.hasWatcher(id ?? '')) store.refreshWatcher(id as string, at);
    }
    await Promise.all(inFlight);
  }
  await store.tick(at);
  const live = view(store, ids);
  await store.close();
  MnatState.prototype.snapshot = snapshot;
  const again = openEmbeddedStore({ state: options(), dir, log: quiet, nowMs: at });
  t.after(() => again.close());
  assert.deepEqual(view(again, ids), live);
});

test('the server compacts under continuous PUTs (--journal-compact-bytes) and keeps every acknowledged change across kill -9', async (t) => {
  const dir = tempDir(t);
  const args = ['--insecure', '--state-dir', dir, '--journal-compact-bytes', '65536', '--new-watcher-burst', '100'];
  const s1 = await startServer(t, args);
  const h = client(t, s1.origin);
  const ids: string[] = [];
  for (let i = 0; i < 50; i++) ids.push(await newWatcher(h));
  const last = new Map<string, string>();
  let round = 0;
  const metrics = async (): Promise<string> => (await req(h, 'GET', '/metrics')).body;
  while (!/mnat_journal_compactions_total [2-9]/.test(await metrics())) {
    assert.ok(round < 400, 'no second compaction after 400 rounds of PUTs');
    // 50 PUTs at once, every round: the journal is never idle.
    await Promise.all(
      ids.map(async (id, i) => {
        const group = `232.7.${round % 250}.${i}`;
        const res = await req(h, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, joinsBody(id, [['192.0.2.1', group]]));
        assert.ok(res.status === 201 || res.status === 204, res.body);
        last.set(id, group);
      }),
    );
    round++;
  }
  assert.match(await metrics(), /mnat_snapshot_generation [2-9]/);
  h.close();
  await s1.stop('SIGKILL');
  const s2 = await startServer(t, args);
  const h2 = client(t, s2.origin);
  for (const [id, group] of last) {
    const res = await req(h2, 'GET', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`);
    assert.equal(res.json['ietf-mnat:watcher'][0]['joined-sg'][0].group, group);
  }
});
