// A region on an etcd that others compact: etcd compacts its whole keyspace
// at once, so another region on the same etcd (after its snapshot) or the
// operator (etcdctl compact, --auto-compaction-*) takes history a region
// still follows. A new region starts on an etcd compacted before it existed;
// a front end whose log watch reconnects after such a compaction goes on
// without reloading, and a new front end that needs compacted log entries
// gets them, from the entries' own keys (entry-keys.ts); the leader also
// writes a snapshot at once. Entries logged after the newest snapshot survive
// a compaction while every front end is down after a kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdCluster } from '../../lab/etcd-cluster.ts';
import { client, eventually, joinsBody, newWatcher, req, startServer } from '../server/helpers.ts';
import { assignedPath, joinedPath } from './region-helpers.ts';

test('a region on an etcd compacted by others: starts, follows, and new front ends get the compacted entries', async (t) => {
  const cluster = await startEtcdCluster(t, { members: 1 });
  const etcd = async (path: string, body: object): Promise<{ header: { revision: string } }> => {
    const res = await fetch(`http://${cluster.endpoints[0]}${path}`, { method: 'POST', body: JSON.stringify(body) });
    return (await res.json()) as { header: { revision: string } };
  };
  /** Another application's writes, then etcd compacted to its newest revision (as another region's snapshot does). */
  const othersCompact = async (): Promise<void> => {
    for (let i = 0; i < 3; i++) await etcd('/v3/kv/put', { key: Buffer.from('/other/app').toString('base64'), value: Buffer.from(String(i)).toString('base64') });
    const { header } = await etcd('/v3/kv/range', { key: Buffer.from('/other/app').toString('base64') });
    await etcd('/v3/kv/compaction', { revision: header.revision });
  };

  await othersCompact();
  const fa = await startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', 'fa']);
  const ha = client(t, fa.origin);
  const id = await newWatcher(ha); // answered once the entry came back through fa's log watch
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);

  // Compacted again while fa follows; its watch reconnects (member restart) from its last entry, now compacted.
  await othersCompact();
  await cluster.kill(0);
  await cluster.restart(0);
  await cluster.waitHealthy();
  await fa.waitForLine(/etcd's history was compacted past this front end's last entry/);
  await eventually(async () => (await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.2']]))).status === 204, 15_000, 'fa takes changes after the compaction');
  assert.ok(!fa.lines.some((l) => /reloading from the snapshot/.test(l)), 'fa lost no entry: it did not reload');

  // fb needs the log from the start, but etcd compacted it: fb reads the entries' keys; fa (the leader) writes a snapshot.
  await othersCompact();
  const fb = await startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', 'fb']);
  const hb = client(t, fb.origin);
  assert.match((await req(hb, 'GET', assignedPath(id))).body, /232\.1\.1\.2/);
  await fa.waitForLine(/etcd compacted the log past the region's newest snapshot .*writing a snapshot now/);
  const id2 = await newWatcher(hb);
  assert.equal((await req(hb, 'PUT', joinedPath(id2), joinsBody(id2, [['192.0.2.1', '232.1.1.3']]))).status, 201);
  await eventually(async () => (await req(ha, 'GET', assignedPath(id2))).status === 200, 5000, 'fb\'s change reaches fa');
});

test('a region stopped as a whole starts again after etcd was compacted meanwhile: the leader left a snapshot', async (t) => {
  const cluster = await startEtcdCluster(t, { members: 1 });
  const fa = await startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', 'fa']);
  const fb = await startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', 'fb']);
  const ha = client(t, fa.origin);
  const id = await newWatcher(ha);
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  // Maintenance: the region stops, the leader (fa, the first to start) last.
  assert.equal(await fb.stop('SIGTERM'), 0);
  assert.equal(await fa.stop('SIGTERM'), 0);
  assert.ok(fa.lines.some((l) => /leaving a snapshot for the next start/.test(l)), fa.lines.join('\n'));
  // Meanwhile etcd is compacted to its newest revision: the log entries after any older snapshot are gone.
  const res = await fetch(`http://${cluster.endpoints[0]}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
  const { header } = (await res.json()) as { header: { revision: string } };
  await fetch(`http://${cluster.endpoints[0]}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: header.revision }) });
  const fc = await startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', 'fc']);
  assert.match((await req(client(t, fc.origin), 'GET', assignedPath(id))).body, /232\.1\.1\.1/);
});

test('entries logged after the newest snapshot survive a compaction while every front end is down (kill -9)', async (t) => {
  const cluster = await startEtcdCluster(t, { members: 1 });
  const start = (id: string) => startServer(t, ['--insecure', '--store', cluster.url('east'), '--frontend-id', id]);
  const fa = await start('fa');
  const ha = client(t, fa.origin);
  const id = await newWatcher(ha);
  assert.equal((await req(ha, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  assert.equal(await fa.stop('SIGTERM'), 0); // the leader leaves a snapshot with that join
  const fb = await start('fb');
  const hb = client(t, fb.origin);
  const id2 = await newWatcher(hb);
  assert.equal((await req(hb, 'PUT', joinedPath(id2), joinsBody(id2, [['192.0.2.1', '232.1.1.2']]))).status, 201);
  assert.equal((await req(hb, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.3']]))).status, 204);
  await fb.stop('SIGKILL'); // no snapshot of the last three entries
  // While nothing runs, etcd is compacted to its newest revision (another region's snapshot, the operator).
  const res = await fetch(`http://${cluster.endpoints[0]}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
  const { header } = (await res.json()) as { header: { revision: string } };
  await fetch(`http://${cluster.endpoints[0]}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: header.revision }) });
  const fc = await start('fc');
  const hc = client(t, fc.origin);
  assert.match((await req(hc, 'GET', assignedPath(id))).body, /232\.1\.1\.3/);
  assert.match((await req(hc, 'GET', assignedPath(id2))).body, /232\.1\.1\.2/);
  assert.ok(fc.lines.some((l) => /applying the entries since from their keys/.test(l)), fc.lines.join('\n'));
});
