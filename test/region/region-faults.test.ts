// Faults of a region over a real 3-member etcd cluster:
// - kill -9 of the front end the clients use while their push streams flow:
//   they move to the other front end with the same watcher ids and mappings,
//   and their watchers are not expired (their refreshes claim them), while a
//   watcher nobody refreshes is expired after the window;
// - kill -9 of etcd's leader member: changes go on, push streams go on;
// - quorum lost: reads answer, changes get 503 with an ietf-restconf:errors
//   body, and the front ends take changes again by themselves when it returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNodeHost } from '../../src/host/node-host.ts';
import type { Logger } from '../../src/host/host.ts';
import { serverTransport } from '../../src/client/failover-transport.ts';
import { createWatcherClient, EGRESS_ROLE, type WatcherClient } from '../../src/client/watcher-client.ts';
import type { Channel } from '../../src/core/channel.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';
import { errorOf, establish, eventually, joinsBody, newWatcher, openStream, req } from '../server/helpers.ts';
import { assignedPath, joinedPath, mappings, metric, refresh, startCluster, startFrontEnd, type FrontEnd } from './region-helpers.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

interface Cpe {
  client: WatcherClient<Channel>;
  assigned: MappedChannel[];
  updates: number;
}

/** A watcher client over both front ends, starting on the first (Math.random pinned while it picks). */
function startCpe(t: { after(fn: () => unknown): void }, fronts: FrontEnd[], group: string): Cpe {
  const host = createNodeHost(quiet);
  const random = Math.random;
  Math.random = () => 0;
  const transport = serverTransport(host, { origin: fronts.map((f) => f.origin).join(',') });
  Math.random = random;
  const client = createWatcherClient({ host, transport, role: EGRESS_ROLE, backoffInitialMs: 100, backoffMaxMs: 1000, requestTimeoutMs: 3000 });
  const cpe: Cpe = { client, assigned: [], updates: 0 };
  client.on('assignments', (list) => {
    cpe.assigned = list;
    cpe.updates++;
  });
  client.start();
  client.setDesired([{ source: '198.51.100.9', group }]);
  t.after(async () => {
    await client.stop();
    transport.close();
  });
  return cpe;
}

const localOf = (c: Cpe): string | null => {
  const l = c.assigned[0]?.local;
  return l && 'group' in l ? `${l.source},${l.group}` : null;
};

test('kill -9 of the front end the clients use: they move with their ids and mappings; only unrefreshed watchers expire', async (t) => {
  const cluster = await startCluster(t);
  const flags = ['--refresh-period', '2']; // 6 s expiry window
  const fa = await startFrontEnd(t, cluster, 'fa', flags);
  const fb = await startFrontEnd(t, cluster, 'fb', flags);
  const cpes = [0, 1, 2, 3, 4].map((i) => startCpe(t, [fa, fb], `232.7.7.${i + 1}`));
  await eventually(() => cpes.every((c) => localOf(c) !== null && c.client.id !== null), 10_000, 'every client mapped');
  assert.equal(await metric(fa, 'mnat_push_subscribers'), cpes.length, 'all clients follow fa by push');
  const before = cpes.map((c) => ({ id: c.client.id, local: localOf(c) }));
  // A watcher nobody refreshes, homed at fa.
  const silent = await newWatcher(fa.http);
  await req(fa.http, 'PUT', joinedPath(silent), joinsBody(silent, [['198.51.100.9', '232.7.7.99']]));

  await fa.stop('SIGKILL');
  const killedAt = Date.now();
  // The clients reach fb by themselves: a push stream on fb each, same ids.
  await eventually(async () => (await metric(fb, 'mnat_push_subscribers')) === cpes.length, 15_000, 'clients following fb by push');
  t.diagnostic(`all ${cpes.length} clients follow fb by push ${Date.now() - killedAt} ms after the kill`);
  assert.deepEqual(cpes.map((c) => ({ id: c.client.id, local: localOf(c) })), before, 'same watcher ids, same mappings');

  // fb notices fa gone (lease 2 s) and expires fa's watchers after the window (6 s) unless claimed.
  await fb.waitForLine(/msg="expiring watchers of a gone front end not refreshed elsewhere" frontend=fa watchers=1/, 20_000);
  await eventually(async () => (await req(fb.http, 'GET', assignedPath(silent))).status === 404, 5000, 'the silent watcher expired');
  for (const [i, c] of cpes.entries()) {
    assert.equal(await refresh(fb, c.client.id as string), 200, `client ${i}'s watcher is alive`);
    assert.deepEqual((await mappings(fb, c.client.id as string)).map((m) => m['local-mapping'].group), [before[i]!.local!.split(',')[1]]);
  }
  assert.equal(await metric(fb, 'mnat_region_homed_watchers'), cpes.length, 'fb keeps the clients\' liveness now');
  assert.equal(await metric(fb, 'mnat_region_frontends'), 1);

  // Changes go on through fb: a client changes its joins and is pushed the new mapping.
  const updates = cpes[0]!.updates;
  cpes[0]!.client.setDesired([{ source: '198.51.100.9', group: '232.7.7.1' }, { source: '198.51.100.9', group: '232.7.8.1' }]);
  await eventually(() => cpes[0]!.updates > updates && cpes[0]!.assigned.length === 2, 5000, 'the new mapping pushed');
});

test('kill -9 of etcd\'s leader member: changes and push streams go on', async (t) => {
  const cluster = await startCluster(t);
  const fa = await startFrontEnd(t, cluster, 'fa');
  const fb = await startFrontEnd(t, cluster, 'fb');
  const id = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  await eventually(async () => (await req(fb.http, 'GET', assignedPath(id))).status === 200, 5000, 'the watcher on fb');
  const sub = await establish(fb.http, { 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']` });
  const stream = openStream(fb.http, sub['ietf-restconf-subscribed-notifications:uri']);
  t.after(() => stream.close());
  await stream.next();

  const leaderLine = await eventually(async () => /mnat_etcd_member_up\{name="m(\d)",leader="true"\} 1/.exec((await req(fa.http, 'GET', '/metrics')).body), 8000, 'etcd leader known');
  await cluster.kill(Number(leaderLine![1]));
  const killedAt = Date.now();
  // A change through each front end succeeds once the remaining two have elected a leader.
  const putUntilOk = async (fe: FrontEnd, groups: string[]): Promise<void> => {
    await eventually(async () => (await req(fe.http, 'PUT', joinedPath(id), joinsBody(id, groups.map((g) => ['192.0.2.1', g])))).status === 204, 15_000, `PUT through ${fe.id}`);
  };
  await putUntilOk(fa, ['232.1.1.1', '232.1.1.2']);
  t.diagnostic(`first change accepted ${Date.now() - killedAt} ms after killing etcd's leader`);
  const change = await stream.next(10_000);
  assert.equal(change['ietf-yang-push:push-change-update']['datastore-changes']['yang-patch'].edit[0].operation, 'create', 'fb\'s stream carries fa\'s change');
  await putUntilOk(fb, ['232.1.1.2']);
  await eventually(async () => (await mappings(fa, id)).length === 1, 5000, 'fb\'s change on fa');
  assert.equal(stream.ended, false, 'the push stream never broke');
  for (const fe of [fa, fb]) assert.equal(await metric(fe, 'mnat_region_available'), 1);
});

test('quorum lost: reads answer, changes are refused with 503, and the front ends recover by themselves', async (t) => {
  const cluster = await startCluster(t);
  const fa = await startFrontEnd(t, cluster, 'fa');
  const fb = await startFrontEnd(t, cluster, 'fb');
  const id = await newWatcher(fa.http);
  assert.equal((await req(fa.http, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  const known = await mappings(fa, id);
  await eventually(async () => (await req(fb.http, 'GET', assignedPath(id))).status === 200, 5000, 'the watcher on fb');

  await cluster.kill(0);
  await cluster.kill(1);
  // A change written while a front end still believes in the quorum is answered
  // 503 "may still take effect" (the entry can sit in the last member's log and
  // be committed when the quorum returns); once it knows, it writes nothing.
  for (const fe of [fa, fb]) await eventually(async () => (await metric(fe, 'mnat_region_available')) === 0, 10_000, `${fe.id} reports etcd unavailable`);
  for (const fe of [fa, fb]) {
    const put = await req(fe.http, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.9']]));
    assert.equal(put.status, 503, `${fe.id}: ${put.body}`);
    assert.equal(put.headers['retry-after'], '2');
    assert.match(errorOf(put)['error-message']!, /etcd.*quorum.*changes are refused until it recovers/);
    assert.equal((await req(fe.http, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id')).status, 503);
    assert.deepEqual(await mappings(fe, id), known, `${fe.id} still answers the known mapping`);
    assert.equal(await refresh(fe, id), 200, 'refresh is local: it goes on');
  }

  await cluster.restart(0);
  await cluster.restart(1);
  const back = Date.now();
  for (const fe of [fa, fb]) {
    await eventually(async () => (await req(fe.http, 'PUT', joinedPath(id), joinsBody(id, [['192.0.2.1', '232.1.1.1'], ['192.0.2.1', `232.1.2.${fe.id === 'fa' ? 1 : 2}`]]))).status === 204, 20_000, `${fe.id} taking changes again`);
  }
  t.diagnostic(`changes accepted again ${Date.now() - back} ms after the quorum returned`);
  await eventually(async () => (await mappings(fa, id)).length === 2 && JSON.stringify(await mappings(fa, id)) === JSON.stringify(await mappings(fb, id)), 5000, 'both agree');
  assert.deepEqual((await mappings(fa, id)).find((m) => m['global-subscription'].group === '232.1.1.1'), known[0], 'the known mapping never changed');
});
