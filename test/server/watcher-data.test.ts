// The per-watcher containers as RFC 8040 resources: a container POST is all
// or nothing, and PATCH never creates an entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, errorOf, joinsBody, monitorsBody, newWatcher, req, startServer } from './helpers.ts';

const ROOT = '/restconf/data/ietf-mnat:';
const E = `${ROOT}egress-global-joined/watcher=`;
const I = `${ROOT}ingress-watching/watcher=`;
const A = `${ROOT}assigned-channels/watcher=`;

const entry = (id: string, groups: string[]) => ({ id, 'joined-sg': groups.map((group, i) => ({ id: String(i), source: '192.0.2.1', group })) });
const groupsOf = async (http: Parameters<typeof req>[0], id: string): Promise<string[]> =>
  (await req(http, 'GET', E + id)).json['ietf-mnat:watcher'][0]['joined-sg'].map((j: any) => j.group);

test('a container POST that fails changes nothing', async (t) => {
  const server = await startServer(t, ['--insecure', '--max-joins-per-watcher', '2']);
  const http = client(t, server.origin);
  const w = await newWatcher(http);
  const fresh = await newWatcher(http);
  const ing = await newWatcher(http);
  assert.equal((await req(http, 'PUT', E + w, joinsBody(w, [['192.0.2.1', '232.1.1.1']]))).status, 201);
  assert.equal((await req(http, 'PUT', I + ing, monitorsBody(ing, ['192.0.2.0/24']))).status, 201);
  const post = (watchers: unknown[]) => req(http, 'POST', `${ROOT}egress-global-joined`, { 'ietf-mnat:watcher': watchers });

  // a later entry of the other role
  const wrongRole = await post([entry(w, ['232.7.7.7']), { id: ing, 'joined-sg': [] }]);
  assert.equal(wrongRole.status, 400, wrongRole.body);
  assert.deepEqual(await groupsOf(http, w), ['232.1.1.1'], 'the first entry was not applied');
  assert.equal(errorOf(wrongRole)['error-tag'], 'invalid-value');
  assert.equal(errorOf(wrongRole)['error-path'], '/ietf-mnat:watcher[1]/id');
  assert.match(errorOf(wrongRole)['error-message'] ?? '', /ingress monitors/);

  // a later unknown watcher: the container exists, the body is at fault (400, as in operation input)
  const unknown = await post([entry(w, ['232.7.7.7']), entry('nope', [])]);
  assert.equal(unknown.status, 400, unknown.body);
  assert.equal(errorOf(unknown)['error-app-tag'], 'ietf-mnat:unknown-watcher-id');
  assert.equal(errorOf(unknown)['error-path'], '/ietf-mnat:watcher[1]/id');

  // a later entry over --max-joins-per-watcher
  const tooMany = await post([entry(w, ['232.7.7.7']), entry(fresh, ['232.8.8.1', '232.8.8.2', '232.8.8.3'])]);
  assert.equal(tooMany.status, 409, tooMany.body);
  assert.equal(errorOf(tooMany)['error-tag'], 'resource-denied');

  assert.deepEqual(await groupsOf(http, w), ['232.1.1.1'], 'the first entry was not applied');
  assert.equal((await req(http, 'GET', E + fresh)).status, 404, 'no entry created');

  // all good: every entry applied, Location names the first
  const ok = await post([entry(w, ['232.7.7.7']), entry(fresh, ['232.8.8.1', '232.8.8.2'])]);
  assert.equal(ok.status, 201, ok.body);
  assert.equal(ok.headers.location, `/restconf/data/ietf-mnat:egress-global-joined/watcher=${w}`);
  assert.deepEqual(await groupsOf(http, w), ['232.7.7.7']);
  assert.deepEqual(await groupsOf(http, fresh), ['232.8.8.1', '232.8.8.2']);
});

test('PATCH does not create a missing entry (RFC 8040 §4.6.1)', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const http = client(t, server.origin);
  const w = await newWatcher(http);
  const ing = await newWatcher(http);

  const egress = await req(http, 'PATCH', E + w, joinsBody(w, [['192.0.2.1', '232.1.1.1']]));
  assert.equal(egress.status, 404, egress.body);
  assert.equal(errorOf(egress)['error-tag'], 'invalid-value');
  assert.equal((await req(http, 'GET', E + w)).status, 404, 'no egress entry created');
  assert.deepEqual((await req(http, 'GET', A + w)).json['ietf-mnat:watcher'][0]['mapped-sg'] ?? [], []);

  const ingress = await req(http, 'PATCH', I + ing, monitorsBody(ing, ['192.0.2.0/24']));
  assert.equal(ingress.status, 404, ingress.body);
  assert.equal((await req(http, 'GET', I + ing)).status, 404, 'no ingress entry created');

  // once PUT, PATCH merges; after DELETE the entry is missing again
  assert.equal((await req(http, 'PUT', E + w, joinsBody(w, []))).status, 201);
  assert.equal((await req(http, 'PATCH', E + w, joinsBody(w, [['192.0.2.1', '232.1.1.1']]))).status, 204);
  assert.deepEqual(await groupsOf(http, w), ['232.1.1.1']);
  assert.equal((await req(http, 'DELETE', E + w)).status, 204);
  assert.equal((await req(http, 'PATCH', E + w, joinsBody(w, [['192.0.2.1', '232.1.1.2']]))).status, 404);
  // the other role's entry: wrong-role, as PUT answers
  assert.equal((await req(http, 'PUT', I + ing, monitorsBody(ing, ['192.0.2.0/24']))).status, 201);
  const other = await req(http, 'PATCH', E + ing, joinsBody(ing, []));
  assert.equal(other.status, 400, other.body);
  assert.match(errorOf(other)['error-message'] ?? '', /ingress monitors/);
});
