import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, errorOf, joinsBody, monitorsBody, newWatcher, req, startServer } from './helpers.ts';

const E = '/restconf/data/ietf-mnat:egress-global-joined/watcher=';
const I = '/restconf/data/ietf-mnat:ingress-watching/watcher=';

test('every error: RFC 8040 status and ietf-restconf:errors body', async (t) => {
  const server = await startServer(t, ['--insecure', '--max-joins-per-watcher', '3']);
  const http = client(t, server.origin);
  const id = await newWatcher(http);
  const ing = await newWatcher(http);
  assert.equal((await req(http, 'PUT', I + ing, monitorsBody(ing, ['0.0.0.0/0']))).status, 201);

  const cases: Array<{ what: string; method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; path: string; body?: unknown; headers?: Record<string, string>; status: number; tag: string; appTag?: string; errPath?: RegExp; message?: RegExp }> = [
    { what: 'malformed JSON', method: 'PUT', path: E + id, body: '{"ietf-mnat:watcher": [', status: 400, tag: 'malformed-message', message: /not valid JSON/ },
    { what: 'empty body', method: 'PUT', path: E + id, body: '', headers: { 'content-type': 'application/yang-data+json' }, status: 400, tag: 'malformed-message' },
    { what: 'wrong media type', method: 'PUT', path: E + id, body: joinsBody(id, []), headers: { 'content-type': 'text/plain' }, status: 415, tag: 'invalid-value', message: /application\/yang-data\+json/ },
    { what: 'yang-patch media type', method: 'PATCH', path: E + id, body: joinsBody(id, []), headers: { 'content-type': 'application/yang-patch+json' }, status: 415, tag: 'invalid-value' },
    { what: 'xml', method: 'POST', path: '/restconf/operations/ietf-mnat:refresh-watcher-id', body: '<input/>', headers: { 'content-type': 'application/yang-data+xml' }, status: 415, tag: 'invalid-value' },
    { what: 'bad source address', method: 'PUT', path: E + id, body: joinsBody(id, [['192.0.2.300', '232.1.1.1']]), status: 400, tag: 'invalid-value', errPath: /joined-sg\[0\]\/source/ },
    // never a global source: refused like loopback, naming the field
    ...['127.0.0.1', '0.1.2.3', '169.254.0.1'].map((src) => ({ what: `source ${src}`, method: 'PUT' as const, path: E + id, body: joinsBody(id, [[src, '232.1.1.1']]), status: 400, tag: 'invalid-value', errPath: /joined-sg\[0\]\/source$/, message: new RegExp(`source ${src} is`) })),
    ...['::1', '::ffff:127.0.0.1', '::ffff:0.0.0.0', 'fe80::1'].map((src) => ({ what: `source ${src}`, method: 'PUT' as const, path: E + id, body: joinsBody(id, [[src, 'ff3e::1']]), status: 400, tag: 'invalid-value', errPath: /joined-sg\[0\]\/source$/, message: new RegExp(`source ${src} is`) })),
    { what: 'non-multicast group', method: 'PUT', path: E + id, body: joinsBody(id, [['192.0.2.1', '10.1.1.1']]), status: 400, tag: 'invalid-value', errPath: /joined-sg\[0\]\/group/, message: /multicast/ },
    { what: 'mixed families', method: 'PUT', path: E + id, body: joinsBody(id, [['2001:db8::1', '232.1.1.1']]), status: 400, tag: 'invalid-value' },
    { what: 'bad prefix', method: 'PUT', path: I + ing, body: monitorsBody(ing, ['192.0.2.0/33']), status: 400, tag: 'invalid-value', errPath: /global-source-prefix/ },
    { what: 'id mismatch', method: 'PUT', path: E + id, body: joinsBody('someone-else', []), status: 400, tag: 'invalid-value' },
    { what: 'unknown member', method: 'PUT', path: E + id, body: { 'ietf-mnat:watcher': [{ id, 'joined-sg': [], extra: 1 }] }, status: 400, tag: 'unknown-element' },
    { what: 'oversize body', method: 'PUT', path: E + id, body: '{"x":"' + 'a'.repeat(70 * 1024) + '"}', status: 413, tag: 'too-big' },
    { what: 'oversize refresh', method: 'POST', path: '/restconf/operations/ietf-mnat:refresh-watcher-id', body: '{"ietf-mnat:input":{"watcher-id":"' + 'a'.repeat(70 * 1024) + '"}}', status: 413, tag: 'too-big' },
    { what: 'refresh of a malformed body', method: 'POST', path: '/restconf/operations/ietf-mnat:refresh-watcher-id', body: '{"ietf-mnat:input":', status: 400, tag: 'malformed-message' },
    { what: 'refresh with a text body', method: 'POST', path: '/restconf/operations/ietf-mnat:refresh-watcher-id', body: { 'ietf-mnat:input': { 'watcher-id': 'x' } }, headers: { 'content-type': 'text/plain' }, status: 415, tag: 'invalid-value' },
    { what: 'unknown path', method: 'GET', path: '/restconf/data/ietf-mnat:nothing', status: 404, tag: 'invalid-value' },
    { what: 'unknown path outside root', method: 'GET', path: '/elsewhere', status: 404, tag: 'invalid-value' },
    { what: 'too deep', method: 'GET', path: `${E}${id}/joined-sg=1`, status: 404, tag: 'invalid-value' },
    { what: 'unknown operation', method: 'POST', path: '/restconf/operations/ietf-mnat:reboot', status: 404, tag: 'invalid-value' },
    { what: 'wrong method on operation', method: 'GET', path: '/restconf/operations/ietf-mnat:get-new-watcher-id', status: 405, tag: 'operation-not-supported' },
    { what: 'wrong method on data', method: 'POST', path: `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`, status: 405, tag: 'operation-not-supported' },
    { what: 'unknown query', method: 'GET', path: `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}?fields=x`, status: 400, tag: 'invalid-value' },
    { what: 'bad depth', method: 'GET', path: `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}?depth=abc`, status: 400, tag: 'invalid-value', message: /depth="abc" has no such value/ },
    { what: 'repeated query parameter', method: 'GET', path: `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}?content=all&content=all`, status: 400, tag: 'invalid-value', message: /more than once/ },
    { what: 'query parameter on PUT', method: 'PUT', path: `${E}${id}?depth=1`, body: joinsBody(id, []), status: 400, tag: 'invalid-value', message: /only with GET and HEAD/ },
    { what: 'not acceptable', method: 'GET', path: `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`, headers: { accept: 'application/yang-data+xml' }, status: 406, tag: 'invalid-value' },
    { what: 'join limit', method: 'PUT', path: E + id, body: joinsBody(id, [['192.0.2.1', '232.1.1.1'], ['192.0.2.1', '232.1.1.2'], ['192.0.2.1', '232.1.1.3'], ['192.0.2.1', '232.1.1.4']]), status: 409, tag: 'resource-denied' },
    { what: 'wrong role', method: 'PUT', path: E + ing, body: joinsBody(ing, []), status: 400, tag: 'invalid-value' },
    { what: 'refresh without input', method: 'POST', path: '/restconf/operations/ietf-mnat:refresh-watcher-id', status: 400, tag: 'missing-element' },
    { what: 'refresh with wrong shape', method: 'POST', path: '/restconf/operations/ietf-mnat:refresh-watcher-id', body: { input: 1 }, status: 400, tag: 'unknown-element' },
    { what: 'get-new-watcher-id with input', method: 'POST', path: '/restconf/operations/ietf-mnat:get-new-watcher-id', body: { 'ietf-mnat:input': { x: 1 } }, status: 400, tag: 'unknown-element' },
    { what: 'bad percent-encoding', method: 'GET', path: '/restconf/data/ietf-mnat:assigned-channels/watcher=%zz', status: 400, tag: 'malformed-message' },
    { what: 'establish periodic', method: 'POST', path: '/restconf/operations/ietf-subscribed-notifications:establish-subscription', body: { 'ietf-subscribed-notifications:input': { 'ietf-yang-push:periodic': { period: 100 } } }, status: 400, tag: 'invalid-value', appTag: 'ietf-yang-push:period-unsupported' },
    { what: 'establish bad filter', method: 'POST', path: '/restconf/operations/ietf-subscribed-notifications:establish-subscription', body: { 'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:datastore-xpath-filter': '/ietf-mnat:egress-global-joined', 'ietf-yang-push:on-change': {} } }, status: 400, tag: 'invalid-value' },
    { what: 'delete unknown subscription', method: 'POST', path: '/restconf/operations/ietf-subscribed-notifications:delete-subscription', body: { 'ietf-subscribed-notifications:input': { id: 424242 } }, status: 400, tag: 'invalid-value', appTag: 'ietf-subscribed-notifications:no-such-subscription' },
    { what: 'unknown subscription stream', method: 'GET', path: '/restconf/subscriptions/99', status: 404, tag: 'invalid-value' },
  ];
  for (const c of cases) {
    const res = await req(http, c.method, c.path, c.body, c.headers);
    assert.equal(res.status, c.status, `${c.what}: ${res.body}`);
    const e = errorOf(res);
    assert.equal(e['error-tag'], c.tag, `${c.what}: ${res.body}`);
    assert.ok(e['error-type'], c.what);
    assert.ok(e['error-message'], c.what);
    if (c.appTag) assert.equal(e['error-app-tag'], c.appTag, c.what);
    if (c.errPath) assert.match(e['error-path'] ?? '', c.errPath, `${c.what}: ${res.body}`);
    if (c.message) assert.match(e['error-message'] ?? '', c.message, c.what);
    if (c.status === 405) assert.ok(res.headers.allow, `${c.what}: Allow header`);
  }
  // a refresh with media-type parameters still works (the general path)
  const withParams = await req(http, 'POST', '/restconf/operations/ietf-mnat:refresh-watcher-id', { 'ietf-mnat:input': { 'watcher-id': id } }, { 'content-type': 'application/yang-data+json; charset=utf-8' });
  assert.equal(withParams.status, 200, withParams.body);
  // nothing above changed the watcher
  const joins = await req(http, 'PUT', E + id, joinsBody(id, [['192.0.2.1', '232.1.1.1']]));
  assert.equal(joins.status, 201, 'the egress entry did not exist before: every bad PUT was refused whole');
});
