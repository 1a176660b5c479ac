// etcd restored from an older backup while front ends run (every member's
// data directory put back, as a disaster recovery does): the log's history
// after the backup is gone from etcd, and new entries reuse its revisions.
// The front ends notice and load the region again from etcd, so every front
// end, old or new, serves the restored state and nothing else; changes go on.
// Also when etcd's revision is past the front end's before it looks again (it
// was stopped meanwhile): the entry at its revision is not the one it applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdCluster } from '../../lab/etcd-cluster.ts';
import { EtcdClient } from '../../src/server/store/etcd-client.ts';
import { establish, eventually, joinsBody, newWatcher, openStream, req, tempDir } from '../server/helpers.ts';
import { assignedPath, joinedPath, mappings, metric, startCluster, startFrontEnd, type FrontEnd } from './region-helpers.ts';

/** Stops every member (SIGTERM), runs `between` on their data directories, starts them again. */
async function withClusterStopped(cluster: EtcdCluster, between: () => void): Promise<void> {
  await Promise.all(cluster.members.map((_, i) => cluster.kill(i, 'SIGTERM')));
  between();
  for (let i = 0; i < cluster.members.length; i++) await cluster.restart(i);
  await cluster.waitHealthy();
}

const available = async (fe: FrontEnd): Promise<void> => void (await eventually(async () => (await metric(fe, 'mnat_region_available')) === 1, 20_000, `${fe.id} takes changes`));
const groups = (list: Array<Record<string, any>>): string[] => list.map((m) => String(m['global-subscription'].group)).sort();

/** Copies every member's data directory (the cluster stopped for it); returns a function that puts them back (the same way). */
async function backUp(t: { after(fn: () => unknown): void }, cluster: EtcdCluster): Promise<() => Promise<void>> {
  const backup = tempDir(t);
  await withClusterStopped(cluster, () => {
    for (const m of cluster.members) cpSync(m.dataDir, join(backup, m.name), { recursive: true });
  });
  return () =>
    withClusterStopped(cluster, () => {
      for (const m of cluster.members) {
        rmSync(m.dataDir, { recursive: true, force: true });
        cpSync(join(backup, m.name), m.dataDir, { recursive: true });
      }
    });
}

test('etcd restored from an older backup: every front end serves the restored state, and changes go on', async (t) => {
  const cluster = await startCluster(t);
  const fa = await startFrontEnd(t, cluster, 'fa');
  const fb = await startFrontEnd(t, cluster, 'fb');
  const w1 = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', joinedPath(w1), joinsBody(w1, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  const backedUp = await mappings(fa, w1);
  await eventually(async () => (await req(fb.http, 'GET', assignedPath(w1))).status === 200, 5000, 'w1 on fb');

  const restore = await backUp(t, cluster);
  for (const fe of [fa, fb]) await available(fe);

  // After the backup: a new watcher, and w1 gets a second channel.
  const w2 = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', joinedPath(w2), joinsBody(w2, [['192.0.2.2', '232.2.2.2']]))).status, 201);
  assert.equal((await req(fb.http, 'PUT', joinedPath(w1), joinsBody(w1, [['192.0.2.1', '232.1.1.1'], ['192.0.2.3', '232.3.3.3']]))).status, 204);
  await eventually(async () => (await mappings(fa, w1)).length === 2 && (await req(fb.http, 'GET', assignedPath(w2))).status === 200, 5000, 'the changes everywhere');
  // w1's subscriber on fb: told when the restore takes its second channel away.
  const sub = await establish(fb.http, { 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${w1}']` });
  const stream = openStream(fb.http, sub['ietf-restconf-subscribed-notifications:uri']);
  t.after(() => stream.close());
  await stream.next();

  await restore();

  // Both front ends say what happened and come back to etcd's (the backup's) state.
  for (const fe of [fa, fb]) await fe.waitForLine(/etcd's history went back/, 20_000);
  for (const fe of [fa, fb]) await fe.waitForLine(/region loaded again from etcd.* watchers=1/, 20_000);
  const told = await stream.next(10_000);
  const edits = told['ietf-yang-push:push-change-update']['datastore-changes']['yang-patch'].edit as Array<{ operation: string; target: string }>;
  assert.ok(edits.some((e) => e.operation === 'delete'), `the lost channel is announced: ${JSON.stringify(edits)}`);
  assert.equal(stream.ended, false, 'the push stream went on');
  for (const fe of [fa, fb]) {
    assert.equal((await req(fe.http, 'GET', assignedPath(w2))).status, 404, `w2 gone on ${fe.id}`);
    assert.deepEqual(await mappings(fe, w1), backedUp, `${fe.id}: w1 as in the backup`);
    await available(fe);
  }

  // Changes go on, consistently, also with a front end started after the restore.
  assert.equal((await req(fa.http, 'PUT', joinedPath(w1), joinsBody(w1, [['192.0.2.1', '232.1.1.1'], ['192.0.2.4', '232.4.4.4']]))).status, 204);
  const fc = await startFrontEnd(t, cluster, 'fc');
  const expected = await mappings(fa, w1);
  assert.deepEqual(groups(expected), ['232.1.1.1', '232.4.4.4']);
  for (const fe of [fb, fc]) await eventually(async () => JSON.stringify(await mappings(fe, w1)) === JSON.stringify(expected), 10_000, `${fe.id} agrees with fa`);
  const w3 = await newWatcher(fc.http);
  assert.equal((await req(fc.http, 'PUT', joinedPath(w3), joinsBody(w3, [['192.0.2.2', '232.2.2.2']]))).status, 201);
  const locals = new Set([...(await mappings(fa, w1)), ...(await mappings(fc, w3))].map((m) => JSON.stringify(m['local-mapping'])));
  assert.equal(locals.size, 3, 'no local (S,G) given twice');
});

test('etcd restored and written past the front end while it was stopped: the entry at its revision tells', async (t) => {
  const cluster = await startCluster(t);
  const fa = await startFrontEnd(t, cluster, 'fa');
  const w1 = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', joinedPath(w1), joinsBody(w1, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  const backedUp = await mappings(fa, w1);
  const restore = await backUp(t, cluster);
  await available(fa);
  const w2 = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', joinedPath(w2), joinsBody(w2, [['192.0.2.2', '232.2.2.2']]))).status, 201);
  const applied = Number(await metric(fa, 'mnat_region_applied_revision'));

  fa.proc.kill('SIGSTOP');
  t.after(() => fa.proc.kill('SIGCONT'));
  await restore();
  // Log entries of another writer (empty ones) until etcd's revision is past the one fa applied.
  const etcd = new EtcdClient({ endpoints: cluster.endpoints });
  t.after(() => etcd.close());
  let revision = 0;
  while (revision <= applied + 2) revision = (await etcd.put('/mnat/default/log', JSON.stringify({ from: 'test' }))).revision;
  fa.proc.kill('SIGCONT');

  await fa.waitForLine(/etcd's history went back/, 20_000);
  await fa.waitForLine(/region loaded again from etcd.* watchers=1/, 20_000);
  assert.equal((await req(fa.http, 'GET', assignedPath(w2))).status, 404);
  assert.deepEqual(await mappings(fa, w1), backedUp);
});
