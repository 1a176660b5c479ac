// Snapshots and compaction, with the region store in this process over a real
// etcd cluster: the leader writes chunked snapshots as the log grows and
// compacts etcd's history to the previous one (and deletes the entries' keys
// it covers); a front end started later
// loads the snapshot and the log's tail and agrees with the leader; a watch
// from a compacted revision reports it; a front end that reloads from the
// snapshot catches up before it answers from it and never reuses an ETag
// (region-restore.test.ts: it tells its subscribers what changed). The leader
// builds its snapshots in steps: entries that arrive meanwhile wait and are
// applied after, and the snapshot is the state at its revision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../src/host/host.ts';
import { EtcdClient } from '../../src/server/store/etcd-client.ts';
import type { RegionConfig } from '../../src/server/store/etcd-replica.ts';
import { readHead, CHUNK_BYTES } from '../../src/server/store/etcd-snapshot.ts';
import { openEtcdStore, type EtcdStore } from '../../src/server/store/etcd-store.ts';
import { eventually } from '../server/helpers.ts';
import { startCluster } from './region-helpers.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const CONFIG: RegionConfig = {
  format: 'mnat-region-config/1',
  pool: { 'group-pool': { ranges: [{ 'group-range': '232.0.0.0/8', exclude: [{ 'groupex-range': '232.0.0.0/24' }], 'source-range': 'keep' }] } },
  refreshPeriodS: 10,
  gracePeriodS: 0,
  maxJoinsPerWatcher: 8,
};

function view(store: EtcdStore, ids: string[]): string {
  return JSON.stringify({ channels: store.channels().sort((a, b) => a.id - b.id), watchers: ids.filter((id) => store.hasWatcher(id)).map((id) => [id, store.assignedChannels(id)]) });
}

test('the leader snapshots and compacts; a later front end loads snapshot + tail and agrees; a reload catches up before use', async (t) => {
  const cluster = await startCluster(t);
  const open = async (id: string): Promise<EtcdStore> => {
    const s = await openEtcdStore({ endpoints: cluster.endpoints, prefix: '/mnat/snap/', frontendId: id, config: CONFIG, log: quiet, snapshotEveryBytes: 20_000, leaseTtlS: 2 });
    t.after(() => s.close());
    return s;
  };
  const leader = await open('fa');
  const ids: string[] = [];
  // Enough log for a few snapshots: 300 watchers with joins, some replaced.
  for (let i = 0; i < 300; i++) {
    const id = `w${String(i).padStart(3, '0')}-${'x'.repeat(20)}`;
    ids.push(id);
    await leader.createWatcher({ id, at: Date.now() });
    await leader.setJoins({ id, joins: [{ id: 'a', channel: { source: '192.0.2.1', group: `232.5.${i % 50}.1` } }, { id: 'b', channel: { source: '192.0.2.2', group: `232.6.${i % 250}.${1 + Math.floor(i / 250)}` } }], at: Date.now() });
    if (i % 10 === 9) await leader.deleteJoins({ id: ids[i - 5]!, at: Date.now() });
  }
  await eventually(() => leader.regionStats().snapshotRevision > 0 && leader.regionStats().writes.snapshot! >= 4, 10_000, 'two snapshots written');
  const client = new EtcdClient({ endpoints: cluster.endpoints });
  t.after(() => client.close());
  const { head } = await readHead(client, '/mnat/snap/');
  assert.ok(head && head.chunks >= 1 && head.bytes <= head.chunks * CHUNK_BYTES);

  // History before the previous snapshot is gone: a watch from revision 1 is told so.
  const compacted = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no compaction reported')), 5000);
    client.watch('/mnat/snap/log', { startRevision: 1 }, {
      onEvents: () => undefined,
      onCompacted: (rev) => {
        clearTimeout(timer);
        resolve(rev);
      },
    });
  });
  assert.ok(compacted > 1, `compacted up to ${compacted}`);
  // The entries' own keys (entry-keys.ts) that the snapshots cover are deleted too: only the log's tail keeps keys.
  const entryKeys = async (): Promise<Array<{ modRevision: number }>> => (await client.range('/mnat/snap/entries/', { prefix: true, keysOnly: true })).kvs;
  await eventually(async () => (await entryKeys()).every((kv) => kv.modRevision > compacted), 5000, 'entry keys up to the compaction deleted');
  const kept = await entryKeys();
  assert.ok(kept.length > 0 && kept.length < leader.regionStats().entriesApplied / 2, `${kept.length} entry keys kept of ${leader.regionStats().entriesApplied} entries`);

  // A front end started now loads the snapshot and the tail.
  const late = await open('fb');
  assert.ok(late.regionStats().snapshotRevision > 0, 'started from a snapshot');
  await eventually(() => late.regionStats().appliedRevision === leader.regionStats().appliedRevision, 5000, 'caught up');
  assert.equal(view(late, ids), view(leader, ids), 'the same state as the leader');

  // Reload from the snapshot (what a front end does when its watch was compacted away): the snapshot is
  // caught up with the log before it is used, so subscribers hear of nothing that did not change; ETags move on.
  const changed: string[] = [];
  late.onWatchersChanged((l) => changed.push(...l));
  const someone = ids.find((id) => late.hasWatcher(id) && late.assignedChannels(id).length === 2)!;
  const versionBefore = late.version(someone);
  await leader.setJoins({ id: someone, joins: [{ id: 'z', channel: { source: '192.0.2.9', group: '232.7.7.7' } }], at: Date.now() });
  await eventually(() => late.assignedChannels(someone).length === 1, 5000, 'the change on the late front end');
  changed.length = 0;
  const revisionBefore = late.regionStats().appliedRevision;
  await (late as unknown as { reloadAfterCompaction(rev: number): Promise<void> }).reloadAfterCompaction(compacted);
  assert.ok(late.version(someone) > versionBefore + 1, 'versions (ETags) never repeat after a reload');
  assert.ok(late.regionStats().appliedRevision >= revisionBefore, 'caught up before it answers from the reloaded copy');
  assert.deepEqual(changed, [], 'nothing changed, nobody told');
  await eventually(() => late.regionStats().appliedRevision === leader.regionStats().appliedRevision, 5000, 'following the log after the reload');
  assert.equal(view(late, ids), view(leader, ids));
});

test('the leader builds snapshots in steps while entries keep coming: they wait, are applied after, and every front end agrees', async (t) => {
  const cluster = await startCluster(t);
  const waiting: number[] = [];
  const failures: string[] = [];
  const log: Logger = {
    debug: (message, fields) => void (message === 'snapshot built' && waiting.push(Number(fields?.entriesWaiting))),
    info() {},
    warn: (message, fields) => void (/snapshot failed/.test(message) && failures.push(String(fields?.error))),
    error() {},
  };
  const open = async (id: string, logger: Logger): Promise<EtcdStore> => {
    // One watcher per step: the builds take many turns of the event loop.
    const s = await openEtcdStore({ endpoints: cluster.endpoints, prefix: '/mnat/steps/', frontendId: id, config: CONFIG, log: logger, snapshotEveryBytes: 5_000, snapshotStepWatchers: 1, leaseTtlS: 2 });
    t.after(() => s.close());
    return s;
  };
  const leader = await open('fa', log);
  const other = await open('fb', quiet);
  const ids: string[] = [];
  let stop = false;
  // Four writers on the other front end keep entries coming while the leader builds.
  const writer = async (k: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const id = `s${k}-${String(i).padStart(4, '0')}-${'y'.repeat(16)}`;
      ids.push(id);
      await other.createWatcher({ id, at: Date.now() });
      await other.setJoins({ id, joins: [{ id: 'a', channel: { source: '192.0.2.3', group: `232.8.${k}.${i % 200}` } }], at: Date.now() });
    }
  };
  const writers = [0, 1, 2, 3].map(writer);
  try {
    await eventually(() => waiting.some((n) => n > 0), 30_000, 'a snapshot built while entries arrived');
  } finally {
    stop = true;
    await Promise.all(writers);
  }
  assert.deepEqual(failures, [], 'no snapshot found the state changed under it');
  await eventually(() => leader.regionStats().appliedRevision === other.regionStats().appliedRevision, 5000, 'the leader applied what waited');
  assert.equal(view(leader, ids), view(other, ids), 'the leader agrees with the writers\' front end');
  // A snapshot built is written next (paced): start the late front end once one is there.
  await eventually(() => leader.regionStats().snapshotRevision > 0, 20_000, 'a snapshot written');
  const late = await open('fc', quiet);
  assert.ok(late.regionStats().snapshotRevision > 0, 'started from a snapshot built in steps');
  await eventually(() => late.regionStats().appliedRevision === leader.regionStats().appliedRevision, 5000, 'caught up');
  assert.equal(view(late, ids), view(leader, ids), 'a front end started from it agrees');
});
