import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { client, devCerts, errorOf, joinsBody, monitorsBody, newWatcher, req, startServer, tlsArgs } from './helpers.ts';

const A = '/restconf/data/ietf-mnat:assigned-channels/watcher=';
const E = '/restconf/data/ietf-mnat:egress-global-joined/watcher=';
const I = '/restconf/data/ietf-mnat:ingress-watching/watcher=';

test('egress and ingress watcher lifecycle over HTTP/2 + TLS', async (t) => {
  const server = await startServer(t, tlsArgs());
  const http = client(t, server.origin);

  const disco = await req(http, 'GET', '/.well-known/host-meta');
  assert.equal(disco.status, 200);
  assert.match(disco.body, /<Link rel="restconf" href="\/restconf"\/>/);
  const root = await req(http, 'GET', '/restconf');
  assert.equal(root.status, 200);
  assert.ok(root.json['ietf-restconf:restconf']);

  const ing = await newWatcher(http);
  const egr = await newWatcher(http);
  assert.ok(ing.length >= 22 && egr !== ing, 'ids are long random strings');
  const refreshed = await req(http, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': egr } });
  assert.equal(refreshed.status, 200);
  assert.equal(refreshed.json['ietf-mnat:output']['refresh-period'], 10);

  assert.equal((await req(http, 'PUT', I + ing, monitorsBody(ing, ['192.0.2.0/24']))).status, 201);
  assert.equal((await req(http, 'PUT', E + egr, joinsBody(egr, [['192.0.2.1', '232.1.1.1'], ['198.51.100.7', '232.2.2.2']]))).status, 201);

  const eg = await req(http, 'GET', A + egr);
  assert.equal(eg.status, 200);
  assert.match(eg.headers['content-type'] ?? '', /application\/yang-data\+json/);
  assert.ok(eg.headers.etag);
  const mapped = eg.json['ietf-mnat:watcher'][0]['mapped-sg'];
  assert.equal(mapped.length, 2);
  for (const m of mapped) {
    assert.equal(m.state, 'ietf-mnat:assigned-local-multicast');
    assert.match(m['local-mapping'].group, /^232\./);
  }
  const first = mapped.find((m: any) => m['global-subscription'].group === '232.1.1.1');

  // the ingress sees only channels whose source matches its monitor
  const ig = await req(http, 'GET', A + ing);
  const igm = ig.json['ietf-mnat:watcher'][0]['mapped-sg'];
  assert.deepEqual(igm.map((m: any) => m['global-subscription']), [{ source: '192.0.2.1', group: '232.1.1.1' }]);
  assert.deepEqual(igm[0]['local-mapping'], first['local-mapping']);

  // PATCH merges, GET returns the joins, DELETE removes them
  assert.equal((await req(http, 'PATCH', E + egr, { 'ietf-mnat:watcher': [{ id: egr, 'joined-sg': [{ id: 'x', source: '192.0.2.9', group: '232.3.3.3' }] }] })).status, 204);
  const joins = await req(http, 'GET', E + egr);
  assert.equal(joins.status, 200);
  assert.equal(joins.json['ietf-mnat:watcher'][0]['joined-sg'].length, 3);
  const again = await req(http, 'GET', A + egr);
  const stable = again.json['ietf-mnat:watcher'][0]['mapped-sg'].find((m: any) => m['global-subscription'].group === '232.1.1.1');
  assert.deepEqual(stable['local-mapping'], first['local-mapping'], 'a mapping is stable while joined');
  assert.equal((await req(http, 'GET', A + ing)).json['ietf-mnat:watcher'][0]['mapped-sg'].length, 2);

  assert.equal((await req(http, 'DELETE', E + egr)).status, 204);
  assert.deepEqual((await req(http, 'GET', A + egr)).json['ietf-mnat:watcher'][0]['mapped-sg'] ?? [], []);
  assert.deepEqual((await req(http, 'GET', A + ing)).json['ietf-mnat:watcher'][0]['mapped-sg'] ?? [], []);

  // ingress monitors can be read and deleted too
  assert.equal((await req(http, 'GET', I + ing)).json['ietf-mnat:watcher'][0].monitor[0]['global-source-prefix'], '192.0.2.0/24');
  assert.equal((await req(http, 'DELETE', I + ing)).status, 204);

  // without a client certificate the whole list shows nothing
  const all = await req(http, 'GET', '/restconf/data/ietf-mnat:assigned-channels');
  assert.equal(all.status, 200);
  assert.deepEqual(all.json['ietf-mnat:assigned-channels'].watcher ?? [], []);

  const metrics = await req(http, 'GET', '/metrics');
  assert.match(metrics.body, /mnat_watchers\{role="egress"\} \d/);
  assert.match(metrics.body, /mnat_http_requests_total\{code="200"\} \d+/);
  assert.match(metrics.body, /mnat_pool_size \d+/);
  const status = await req(http, 'GET', '/status');
  assert.equal(status.status, 200);
  assert.match(status.body, /<table>/);
  assert.ok(!status.body.includes(egr) && !status.body.includes(ing), 'watcher ids never appear on the status page');
});

test('HTTP/1.1 over TLS is served too (ALPN fallback)', async (t) => {
  const server = await startServer(t, tlsArgs());
  const ca = readFileSync(join(devCerts(), 'ca.pem'));
  const res = await new Promise<{ status: number; body: string; version: string }>((resolve, reject) => {
    const r = httpsRequest({ host: 'localhost', port: server.port, method: 'POST', path: '/restconf/operations/ietf-mnat:get-new-watcher-id', ca }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body, version: res.httpVersion }));
    });
    r.on('error', reject);
    r.end();
  });
  assert.equal(res.version, '1.1');
  assert.equal(res.status, 200);
  assert.ok(JSON.parse(res.body)['ietf-mnat:output']['watcher-id']);
});

test('--insecure serves h2c and HTTP/1.1 on one port', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const http = client(t, server.origin);
  assert.ok(await newWatcher(http));
  const res = await fetch(`http://127.0.0.1:${server.port}/restconf/operations/ietf-mnat:get-new-watcher-id`, { method: 'POST' });
  assert.equal(res.status, 200);
  assert.ok(((await res.json()) as any)['ietf-mnat:output']['watcher-id']);
});

test('unknown watcher everywhere: 404/400 with ietf-mnat:unknown-watcher-id', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const http = client(t, server.origin);
  for (const [method, path, body, status] of [
    ['GET', A + 'nope', undefined, 404],
    ['PUT', E + 'nope', joinsBody('nope', []), 404],
    ['PUT', I + 'nope', monitorsBody('nope', []), 404],
    ['DELETE', E + 'nope', undefined, 404],
    ['POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': 'nope' } }, 400],
  ] as const) {
    const res = await req(http, method, path, body);
    assert.equal(res.status, status, `${method} ${path}`);
    assert.equal(errorOf(res)['error-app-tag'], 'ietf-mnat:unknown-watcher-id', `${method} ${path}`);
    assert.equal(errorOf(res)['error-tag'], 'invalid-value');
  }
});
