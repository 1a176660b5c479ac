import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, errorOf, joinsBody, newWatcher, req, startServer, tlsArgs } from './helpers.ts';

const E = '/restconf/data/ietf-mnat:egress-global-joined/watcher=';
const A = '/restconf/data/ietf-mnat:assigned-channels/watcher=';

test('mTLS: a watcher is bound to the certificate that created it', async (t) => {
  const server = await startServer(t, [...tlsArgs('required')]);
  const egress = client(t, server.origin, 'egress');
  const other = client(t, server.origin, 'other');
  const admin = client(t, server.origin, 'mnat-admin');
  const mine = await newWatcher(egress);
  const theirs = await newWatcher(other);
  assert.equal((await req(egress, 'PUT', E + mine, joinsBody(mine, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  assert.equal((await req(other, 'PUT', E + theirs, joinsBody(theirs, [['192.0.2.2', '232.1.1.2']]))).status, 201);

  // another certificate holding the id gets the same answer as for an unknown id
  for (const [method, path, body] of [
    ['GET', A + mine, undefined],
    ['GET', E + mine, undefined],
    ['PUT', E + mine, joinsBody(mine, [])],
    ['DELETE', E + mine, undefined],
  ] as const) {
    const res = await req(other, method, path, body);
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.equal(errorOf(res)['error-app-tag'], 'ietf-mnat:unknown-watcher-id');
  }
  const refresh = await req(other, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': mine } });
  assert.equal(errorOf(refresh)['error-app-tag'], 'ietf-mnat:unknown-watcher-id');
  const sub = await req(other, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', {
    'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:on-change': {}, 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${mine}']` },
  });
  assert.equal(errorOf(sub)['error-app-tag'], 'ietf-mnat:unknown-watcher-id');

  // the owner still has its joins, and the whole list shows only its own watchers
  const all = await req(egress, 'GET', '/restconf/data/ietf-mnat:assigned-channels');
  const ids = all.json['ietf-mnat:assigned-channels'].watcher.map((w: any) => w.id);
  assert.deepEqual(ids, [mine]);
  assert.equal(all.json['ietf-mnat:assigned-channels'].watcher[0]['mapped-sg'].length, 1);
  const data = await req(other, 'GET', '/restconf/data');
  assert.ok(!data.body.includes(mine), 'GET /data shows nothing of others');
  assert.ok(data.body.includes(theirs));

  // the status page is for the admin certificate only
  assert.equal((await req(egress, 'GET', '/status')).status, 403);
  const page = await req(admin, 'GET', '/status');
  assert.equal(page.status, 200);
  assert.match(page.body, /232\.1\.1\.1/);

  // no client certificate: the TLS handshake is refused
  const anon = client(t, server.origin);
  await assert.rejects(req(anon, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id'));
  // the server is still fine
  assert.equal((await req(egress, 'GET', A + mine)).status, 200);
});

test('optional mTLS: anonymous clients work with secret ids; certified ones are bound', async (t) => {
  const server = await startServer(t, [...tlsArgs('optional')]);
  const anon = client(t, server.origin);
  const certified = client(t, server.origin, 'egress');
  const a = await newWatcher(anon);
  const c = await newWatcher(certified);
  assert.equal((await req(certified, 'GET', A + a)).status, 200, 'an unbound id works for anyone who knows it');
  assert.equal((await req(anon, 'GET', A + c)).status, 404, 'a bound id does not work without its certificate');
  assert.equal((await req(anon, 'GET', '/status')).status, 403);
});

test('mTLS binding survives kill -9 and restart', async (t) => {
  const { tempDir } = await import('./helpers.ts');
  const dir = tempDir(t);
  const args = [...tlsArgs('required'), '--state-dir', dir];
  const s1 = await startServer(t, args);
  const e1 = client(t, s1.origin, 'egress');
  const id = await newWatcher(e1);
  assert.equal((await req(e1, 'PUT', E + id, joinsBody(id, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  e1.close();
  await s1.stop('SIGKILL');
  const s2 = await startServer(t, args);
  const egress = client(t, s2.origin, 'egress');
  const other = client(t, s2.origin, 'other');
  assert.equal((await req(other, 'GET', A + id)).status, 404);
  assert.equal((await req(egress, 'GET', A + id)).status, 200);
  const all = await req(egress, 'GET', '/restconf/data/ietf-mnat:assigned-channels');
  assert.deepEqual(all.json['ietf-mnat:assigned-channels'].watcher.map((w: any) => w.id), [id]);
});
