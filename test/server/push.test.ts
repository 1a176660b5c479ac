import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, errorOf, establish, joinsBody, monitorsBody, newWatcher, openStream, req, startServer, tlsArgs } from './helpers.ts';

const E = '/restconf/data/ietf-mnat:egress-global-joined/watcher=';
const I = '/restconf/data/ietf-mnat:ingress-watching/watcher=';
const A = '/restconf/data/ietf-mnat:assigned-channels/watcher=';

test('yang-push over SSE: push-update, push-change-update (ingress first), delete-subscription', async (t) => {
  const server = await startServer(t, tlsArgs());
  const http = client(t, server.origin);
  const ing = await newWatcher(http);
  const egr = await newWatcher(http);
  await req(http, 'PUT', I + ing, monitorsBody(ing, ['192.0.2.0/24']));
  await req(http, 'PUT', E + egr, joinsBody(egr, []));

  const subE = await establish(http, { 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${egr}']` });
  const subI = await establish(http, { 'ietf-yang-push:datastore-subtree-filter': { 'ietf-mnat:assigned-channels': { watcher: [{ id: ing }] } } });
  assert.match(subE['ietf-restconf-subscribed-notifications:uri'], /^https:\/\/localhost:\d+\/restconf\/subscriptions\/\d+\.[A-Za-z0-9_-]{16}$/);
  const se = openStream(http, subE['ietf-restconf-subscribed-notifications:uri']);
  const si = openStream(http, subI['ietf-restconf-subscribed-notifications:uri']);
  const first = await se.next();
  assert.equal(first['ietf-yang-push:push-update'].id, subE.id);
  assert.deepEqual(first['ietf-yang-push:push-update']['datastore-contents']['ietf-mnat:assigned-channels'].watcher[0]['mapped-sg'], []);
  await si.next();

  const order: string[] = [];
  const gotE = se.next().then((n) => (order.push('egress'), n));
  const gotI = si.next().then((n) => (order.push('ingress'), n));
  assert.equal((await req(http, 'PUT', E + egr, joinsBody(egr, [['192.0.2.1', '232.1.1.1']]))).status, 204);
  const [ne, ni] = await Promise.all([gotE, gotI]);
  const patch = ne['ietf-yang-push:push-change-update']['datastore-changes']['yang-patch'];
  assert.equal(patch.edit.length, 1);
  assert.equal(patch.edit[0].operation, 'create');
  assert.match(patch.edit[0].target, new RegExp(`^/ietf-mnat:assigned-channels/watcher=[^/]+/mapped-sg=\\d+$`));
  const entry = patch.edit[0].value['ietf-mnat:mapped-sg'][0];
  assert.equal(entry.state, 'ietf-mnat:assigned-local-multicast');
  assert.deepEqual(ni['ietf-yang-push:push-change-update']['datastore-changes']['yang-patch'].edit[0].value['ietf-mnat:mapped-sg'][0], entry);
  assert.deepEqual(order, ['ingress', 'egress'], 'ingress watchers are told first');

  // the leave arrives as a delete edit
  await req(http, 'PUT', E + egr, joinsBody(egr, []));
  const del = await se.next();
  assert.equal(del['ietf-yang-push:push-change-update']['datastore-changes']['yang-patch'].edit[0].operation, 'delete');

  const metrics = await req(http, 'GET', '/metrics');
  assert.match(metrics.body, /mnat_push_subscribers 2/);

  const d = await req(http, 'POST', '/restconf/operations/ietf-subscribed-notifications:delete-subscription', { 'ietf-subscribed-notifications:input': { id: subE.id } });
  assert.equal(d.status, 204);
  await se.endedSoon();
  si.close();
});

test('subscription for an unknown watcher is refused; a stream closes when its watcher expires', async (t) => {
  const server = await startServer(t, ['--insecure', '--refresh-period', '1']);
  const http = client(t, server.origin);
  const bad = await req(http, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', {
    'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:on-change': {}, 'ietf-yang-push:datastore-xpath-filter': "/ietf-mnat:assigned-channels/watcher[id='nope']" },
  });
  assert.equal(errorOf(bad)['error-app-tag'], 'ietf-mnat:unknown-watcher-id');
  const id = await newWatcher(http);
  const sub = await establish(http, { 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id="${id}"]` });
  const s = openStream(http, sub['ietf-restconf-subscribed-notifications:uri']);
  await s.next();
  // no refresh: expiry after 3 missed periods (3 s)
  const term = await s.next(10_000);
  assert.equal(term['ietf-subscribed-notifications:subscription-terminated'].id, sub.id);
  await s.endedSoon();
  assert.equal((await req(http, 'GET', A + id)).status, 404);
});

test('long polling: If-None-Match held until a change, 304 after the wait', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const http = client(t, server.origin);
  const id = await newWatcher(http);
  await req(http, 'PUT', E + id, joinsBody(id, []));
  const first = await req(http, 'GET', A + id);
  const etag = first.headers.etag as string;
  assert.ok(etag);
  // a different ETag is answered at once
  const stale = await req(http, 'GET', A + id, undefined, { 'if-none-match': '"stale"' });
  assert.equal(stale.status, 200);
  // a matching one with a short wait: 304
  const idle = await req(http, 'GET', A + id, undefined, { 'if-none-match': etag, prefer: 'wait=1' });
  assert.equal(idle.status, 304);
  assert.equal(idle.headers.etag, etag);
  // held, then released by a change
  let answered = false;
  const held = req(http, 'GET', A + id, undefined, { 'if-none-match': etag, prefer: 'wait=20' }).then((r) => ((answered = true), r));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(answered, false, 'the GET is held');
  await req(http, 'PUT', E + id, joinsBody(id, [['192.0.2.1', '232.1.1.1']]));
  const changed = await held;
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.etag, etag);
  assert.equal(changed.json['ietf-mnat:watcher'][0]['mapped-sg'].length, 1);
});

test('a watcher holds at most 8 subscriptions', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const http = client(t, server.origin);
  const id = await newWatcher(http);
  const filter = { 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']` };
  for (let i = 0; i < 8; i++) await establish(http, filter);
  const res = await req(http, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', {
    'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:on-change': {}, ...filter },
  });
  assert.equal(res.status, 409);
  assert.equal(errorOf(res)['error-tag'], 'resource-denied');
});

test('subscription ids cannot be guessed into a stream; only the establishing connection deletes one', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const mine = client(t, server.origin);
  const theirs = client(t, server.origin);
  const id = await newWatcher(mine);
  const sub = await establish(mine, { 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']` });
  const uri = new URL(sub['ietf-restconf-subscribed-notifications:uri']);
  assert.match(uri.pathname, new RegExp(`/restconf/subscriptions/${sub.id}\\.[A-Za-z0-9_-]{16}$`));
  assert.equal((await req(theirs, 'GET', `/restconf/subscriptions/${sub.id}`, undefined, { accept: 'text/event-stream' })).status, 404);
  assert.equal((await req(theirs, 'GET', `/restconf/subscriptions/${sub.id}.AAAAAAAAAAAAAAAA`, undefined, { accept: 'text/event-stream' })).status, 404);
  const del = { 'ietf-subscribed-notifications:input': { id: sub.id } };
  const foreign = await req(theirs, 'POST', '/restconf/operations/ietf-subscribed-notifications:delete-subscription', del);
  assert.equal(errorOf(foreign)['error-app-tag'], 'ietf-subscribed-notifications:no-such-subscription');
  assert.equal((await req(mine, 'POST', '/restconf/operations/ietf-subscribed-notifications:delete-subscription', del)).status, 204);
});
