// Two front ends over a real 3-member etcd cluster: a watcher made on one is
// read, changed, refreshed, followed by push and long poll, and deleted on
// the other; /metrics and the status page show the region; a front end with
// other settings, or the id of a live one, is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, establish, eventually, joinsBody, newWatcher, openStream, req, startServer, type ServerProc } from '../server/helpers.ts';
import { assignedPath, joinedPath, mappings, metric, refresh, startCluster, startFrontEnd } from './region-helpers.ts';

test('a watcher made on one front end is read, changed, pushed, long-polled, refreshed and deleted on the other', async (t) => {
  const cluster = await startCluster(t);
  const fa = await startFrontEnd(t, cluster, 'fa');
  const fb = await startFrontEnd(t, cluster, 'fb');
  const id = await newWatcher(fa.http);
  const put = await req(fa.http, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]));
  assert.equal(put.status, 201, put.body);
  const onA = await mappings(fa, id);
  assert.equal(onA.length, 1);
  assert.equal(onA[0]!.state, 'ietf-mnat:assigned-local-multicast');
  // fb applies the same entry from the log.
  const onB = await eventually(async () => ((await req(fb.http, 'GET', assignedPath(id))).status === 200 ? mappings(fb, id) : null), 5000, 'the watcher on fb');
  assert.deepEqual(onB, onA, 'both front ends answer the same mapping');

  // Push on fb follows a change made on fa.
  const sub = await establish(fb.http, { 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']` });
  const stream = openStream(fb.http, sub['ietf-restconf-subscribed-notifications:uri']);
  t.after(() => stream.close());
  const first = await stream.next();
  assert.deepEqual(first['ietf-yang-push:push-update']['datastore-contents']['ietf-mnat:assigned-channels'].watcher[0]['mapped-sg'], onA);
  const patch = await req(fa.http, 'PATCH', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1'], ['192.0.2.1', '232.1.1.2']]));
  assert.equal(patch.status, 204, patch.body);
  const change = await stream.next();
  const edits = change['ietf-yang-push:push-change-update']['datastore-changes']['yang-patch'].edit;
  assert.equal(edits.length, 1);
  assert.equal(edits[0].operation, 'create');
  assert.equal(edits[0].value['ietf-mnat:mapped-sg'][0]['global-subscription'].group, '232.1.1.2');

  // A long poll on fb is answered by a change on fa.
  const got = await req(fb.http, 'GET', assignedPath(id));
  const held = req(fb.http, 'GET', assignedPath(id), undefined, { 'if-none-match': got.headers.etag!, prefer: 'wait=20' });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await req(fa.http, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.2']]))).status, 204);
  const answered = await held;
  assert.equal(answered.status, 200);
  assert.equal(answered.json['ietf-mnat:watcher'][0]['mapped-sg'].length, 1);
  assert.notEqual(answered.headers.etag, got.headers.etag);

  // Refreshes at fb claim the watcher from fa (one batched write), then stay local.
  assert.equal(await metric(fa, 'mnat_region_homed_watchers'), 1);
  assert.equal(await refresh(fb, id), 200);
  await eventually(async () => (await metric(fb, 'mnat_region_homed_watchers')) === 1 && (await metric(fa, 'mnat_region_homed_watchers')) === 0, 5000, 'the claim to apply');
  const claims = await metric(fb, 'mnat_etcd_writes_total{kind="claims"}');
  for (let i = 0; i < 5; i++) assert.equal(await refresh(fb, id), 200);
  assert.equal(await metric(fb, 'mnat_etcd_writes_total{kind="claims"}'), claims, 'refreshes at the home write nothing');

  // Region-wide operability.
  for (const fe of [fa, fb]) {
    assert.equal(await metric(fe, 'mnat_region_frontends'), 2);
    assert.equal(await metric(fe, 'mnat_region_available'), 1);
    assert.equal(await metric(fe, 'mnat_watchers{role="egress"}'), 1);
  }
  const info = await req(fb.http, 'GET', '/metrics');
  assert.match(info.body, /mnat_store_info\{kind="etcd",frontend="fb",region_leader="fa"\} 1/);
  await eventually(async () => /mnat_etcd_member_up\{name="m\d",leader="true"\} 1/.test((await req(fb.http, 'GET', '/metrics')).body), 8000, 'etcd members in /metrics');
  const status = await req(fb.http, 'GET', '/status');
  assert.match(status.body, /This front end: <b>fb<\/b>; 2 front ends, region leader fa/);
  assert.match(status.body, /m0.*m1.*m2/);

  // Deleting on fb ends the mapping on fa.
  assert.equal((await req(fb.http, 'DELETE', joinedPath(id))).status, 204);
  await eventually(async () => (await mappings(fa, id)).length === 0, 5000, 'the delete on fa');
});

test('a front end whose settings differ from the region\'s is refused, naming the setting', async (t) => {
  const cluster = await startCluster(t);
  await startFrontEnd(t, cluster, 'fa', ['--refresh-period', '10']);
  const other = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fc', '--refresh-period', '20'], { expectExit: true });
  assert.equal(await other.exited, 1);
  assert.match(other.lines.join('\n'), /--refresh-period \(region: 10, here: 20\)/);
  // Another region on the same cluster is independent.
  const east = await startFrontEnd(t, cluster, 'fe', ['--refresh-period', '20'], 'east');
  assert.equal(await metric(east, 'mnat_region_frontends'), 1);
});

test('one front end id at a time: a second live one is refused; a killed one restarted waits for its old lease, saying so', async (t) => {
  const cluster = await startCluster(t);
  // A lease long enough that the restart below surely meets it.
  const frontEnd = (): Promise<ServerProc> => startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fa', '--frontend-lease', '6']);
  const fa = await frontEnd();
  const twin = await startServer(t, ['--insecure', '--store', cluster.url(), '--frontend-id', 'fa', '--frontend-lease', '2'], { expectExit: true });
  await twin.waitForLine(/this front end id is registered already.* frontend=fa/);
  assert.equal(await twin.exited, 1);
  assert.match(twin.lines.join('\n'), /front end id "fa" is registered by a live front end .*give each front end its own --frontend-id/);

  fa.proc.kill('SIGKILL');
  await fa.exited;
  const again = await frontEnd();
  assert.match(again.lines.join('\n'), /this front end id is registered already/, 'the wait was logged');
  assert.match((await req(client(t, again.origin), 'GET', '/metrics')).body, /^mnat_region_frontends 1$/m);
});
