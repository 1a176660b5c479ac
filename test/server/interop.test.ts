// The prototype's clients (GrumpyOldTroll/mnat common_client.py and
// mnat-egress.py) under --api-root /mnat-ds: the exact shapes they send and read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, req, startServer, tlsArgs } from './helpers.ts';

test('prototype interop under /mnat-ds', async (t) => {
  const server = await startServer(t, [...tlsArgs(), '--api-root', '/mnat-ds']);
  const http = client(t, server.origin);
  // get-new-watcher-id: POST without a body, but with the yang-data content type; watcher-id at the top level
  const got = await req(http, 'POST', '/mnat-ds/operations/ietf-mnat:get-new-watcher-id', undefined, { 'content-type': 'application/yang-data+json' });
  assert.equal(got.status, 200);
  const id = got.json['watcher-id'];
  assert.equal(typeof id, 'string');
  assert.equal(got.json['refresh-period'], 10);
  // the egress first POSTs an empty watcher object to the container...
  const created = await req(http, 'POST', '/mnat-ds/data/ietf-mnat:egress-global-joined', { 'ietf-mnat:watcher': { id, 'joined-sg': [] } });
  assert.equal(created.status, 201, created.body);
  // ...then PUTs single-object watchers with joined-sg ids "0", "1", ...
  const put = await req(http, 'PUT', `/mnat-ds/data/ietf-mnat:egress-global-joined/watcher=${id}`, {
    'ietf-mnat:watcher': { id, 'joined-sg': [{ source: '23.212.185.5', group: '232.1.1.1', id: '0' }] },
  });
  assert.ok(put.status === 204 || put.status === 201, put.body);
  // refresh input qualifies the inner leaf too
  const refreshed = await req(http, 'POST', '/mnat-ds/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'ietf-mnat:watcher-id': id } });
  assert.equal(refreshed.status, 200, refreshed.body);
  // and reads ["ietf-mnat:watcher"][0]["mapped-sg"]
  const assigned = await req(http, 'GET', `/mnat-ds/data/ietf-mnat:assigned-channels/watcher=${id}`);
  const w = assigned.json['ietf-mnat:watcher'][0];
  assert.equal(w.id, id);
  assert.equal(w['mapped-sg'][0]['global-subscription'].source, '23.212.185.5');
  assert.match(w['mapped-sg'][0].state, /assigned-local-multicast/);
  assert.ok(w['mapped-sg'][0]['local-mapping'].group);
  // the ingress side: POST/PUT monitors the same way
  const ing = (await req(http, 'POST', '/mnat-ds/operations/ietf-mnat:get-new-watcher-id')).json['watcher-id'];
  assert.equal((await req(http, 'PUT', `/mnat-ds/data/ietf-mnat:ingress-watching/watcher=${ing}`, { 'ietf-mnat:watcher': { id: ing, monitor: [{ id: '0', 'global-source-prefix': '23.212.185.0/24' }] } })).status, 201);
  const ia = await req(http, 'GET', `/mnat-ds/data/ietf-mnat:assigned-channels/watcher=${ing}`);
  assert.equal(ia.json['ietf-mnat:watcher'][0]['mapped-sg'].length, 1);

  // /restconf stays strict at the same time
  const strict = await req(http, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id');
  assert.ok(strict.json['ietf-mnat:output']['watcher-id']);
  assert.equal((await req(http, 'PUT', `/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, '{}', { 'content-type': 'application/json' })).status, 415);
});
