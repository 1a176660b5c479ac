// Watchers from one hostile client: per address without a certificate, per
// client certificate with one, and the get-new-watcher-id rate; the counts
// live in the (durable, replicable) state, so they hold across a restart.
// Also the size of container GETs and push subscriptions per client. The
// attacker is 127.0.0.2 (or the "other" certificate); a normal client on
// 127.0.0.1 (or the "egress" certificate) still gets watcher ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { ATTACKER, h2, NORMAL, Opened, request, type Answer, type Target } from '../../lab/hostile-clients.ts';
import { devCerts, errorOf, startServer, tempDir, tlsArgs } from './helpers.ts';

const NEW_ID = '/restconf/operations/ietf-mnat:get-new-watcher-id';

function opener(t: { after(fn: () => void): void }): Opened {
  const opened = new Opened();
  t.after(() => opened.closeAll());
  return opened;
}

/** get-new-watcher-id until refused (at most `max` tries): the ids made and the refusal. */
async function createUntilRefused(session: ClientHttp2Session, max: number): Promise<{ ids: string[]; refusal: Answer | null }> {
  const ids: string[] = [];
  for (let i = 0; i < max; i++) {
    const a = await request(session, 'POST', NEW_ID);
    if (a.status !== 200) return { ids, refusal: a };
    ids.push(JSON.parse(a.body)['ietf-mnat:output']['watcher-id']);
  }
  return { ids, refusal: null };
}

const json = (a: Answer): { json: unknown } => ({ json: JSON.parse(a.body) });

test('watchers per address (default 64, without a certificate) hold across a restart; other addresses are served', async (t) => {
  const dir = tempDir(t);
  const args = ['--insecure', '--state-dir', dir, '--new-watcher-burst', '1000'];
  const server = await startServer(t, args);
  const target: Target = { port: server.port };
  const opened = opener(t);
  const attacker = await h2(opened, target, ATTACKER);
  const { ids, refusal } = await createUntilRefused(attacker, 300);
  assert.equal(ids.length, 64);
  assert.ok(refusal);
  assert.equal(refusal.status, 429);
  const e = errorOf(json(refusal));
  assert.equal(e['error-tag'], 'resource-denied');
  assert.equal(e['error-app-tag'], 'ietf-mnat:watchers-per-address');
  assert.match(e['error-message'] as string, /--max-watchers-per-address/);
  const normal = await h2(opened, target, NORMAL);
  assert.equal((await request(normal, 'POST', NEW_ID)).status, 200, 'another address still gets ids');
  const metrics = (await request(normal, 'GET', '/metrics')).body;
  assert.match(metrics, /mnat_limit_refusals_total\{limit="watchers-per-address"\} 1\n/);
  // kill -9: the count comes back from the journal with the watchers
  opened.closeAll();
  await server.stop('SIGKILL');
  const again = await startServer(t, args);
  const attacker2 = await h2(opened, { port: again.port }, ATTACKER);
  assert.equal((await request(attacker2, 'POST', NEW_ID)).status, 429);
});

test('get-new-watcher-id rate per address (burst 20, then 6 a minute): 429 with Retry-After', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const target: Target = { port: server.port };
  const opened = opener(t);
  const { ids, refusal } = await createUntilRefused(await h2(opened, target, ATTACKER), 100);
  assert.equal(ids.length, 20);
  assert.ok(refusal);
  assert.equal(refusal.status, 429);
  assert.equal(errorOf(json(refusal))['error-app-tag'], 'ietf-mnat:new-watcher-rate');
  assert.match(errorOf(json(refusal))['error-message'] as string, /--new-watchers-per-minute/);
  const retry = Number(refusal.headers['retry-after']);
  assert.ok(retry >= 1 && retry <= 10, `Retry-After ${refusal.headers['retry-after']}`);
  assert.equal((await request(await h2(opened, target, NORMAL), 'POST', NEW_ID)).status, 200, 'another address still gets ids');
});

test('mTLS: watchers per client certificate (default 32); another certificate is served', async (t) => {
  const server = await startServer(t, [...tlsArgs('optional'), '--new-watcher-burst', '1000']);
  const d = devCerts();
  const as = (cert: string): Target => ({ port: server.port, tls: { ca: join(d, 'ca.pem'), cert: join(d, `${cert}.pem`), key: join(d, `${cert}.key`) } });
  const opened = opener(t);
  const { ids, refusal } = await createUntilRefused(await h2(opened, as('other'), ATTACKER), 200);
  assert.equal(ids.length, 32);
  assert.equal(refusal?.status, 429);
  assert.equal(errorOf(json(refusal as Answer))['error-app-tag'], 'ietf-mnat:watchers-per-certificate');
  assert.match(errorOf(json(refusal as Answer))['error-message'] as string, /--max-watchers-per-certificate/);
  // Same address, another certificate: its own quota.
  assert.equal((await request(await h2(opened, as('egress'), ATTACKER), 'POST', NEW_ID)).status, 200);
});

test('container GETs list at most --max-container-watchers watchers; more is 413 saying to GET each watcher', async (t) => {
  const server = await startServer(t, [...tlsArgs('optional'), '--max-watchers-per-certificate', '100', '--max-container-watchers', '10', '--new-watcher-burst', '100']);
  const d = devCerts();
  const target: Target = { port: server.port, tls: { ca: join(d, 'ca.pem'), cert: join(d, 'other.pem'), key: join(d, 'other.key') } };
  const opened = opener(t);
  const session = await h2(opened, target, ATTACKER);
  const { ids } = await createUntilRefused(session, 10);
  assert.equal((await request(session, 'GET', '/restconf/data/ietf-mnat:assigned-channels')).status, 200, '10 watchers: listed');
  ids.push(...(await createUntilRefused(session, 1)).ids);
  for (const path of ['/restconf/data/ietf-mnat:assigned-channels', '/restconf/data', '/restconf/data/ietf-mnat:egress-global-joined']) {
    const a = await request(session, 'GET', path);
    assert.equal(a.status, 413, path);
    const e = errorOf(json(a));
    assert.equal(e['error-tag'], 'too-big');
    assert.match(e['error-message'] as string, /11 watchers.*--max-container-watchers.*watcher=ID/);
  }
  for (const id of ids) assert.equal((await request(session, 'GET', `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`)).status, 200);
});

test('push subscriptions per client (default 64); another client is served', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const target: Target = { port: server.port };
  const opened = opener(t);
  const attacker = await h2(opened, target, ATTACKER);
  const { ids } = await createUntilRefused(attacker, 9);
  const establish = (session: ClientHttp2Session, id: string): Promise<Answer> =>
    request(session, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', JSON.stringify({
      'ietf-subscribed-notifications:input': {
        'ietf-yang-push:datastore': 'ietf-datastores:operational',
        'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']`,
        'ietf-yang-push:on-change': {},
      },
    }));
  let made = 0;
  let refusal: Answer | null = null;
  for (const id of ids) {
    for (let k = 0; k < 8 && !refusal; k++) {
      const a = await establish(attacker, id);
      if (a.status === 200) made++;
      else refusal = a;
    }
  }
  assert.equal(made, 64);
  assert.equal(refusal?.status, 429);
  assert.equal(errorOf(json(refusal as Answer))['error-app-tag'], 'ietf-mnat:subscriptions-per-client');
  assert.match(errorOf(json(refusal as Answer))['error-message'] as string, /--max-subscriptions-per-client/);
  const normal = await h2(opened, target, NORMAL);
  const a = await request(normal, 'POST', NEW_ID);
  assert.equal((await establish(normal, JSON.parse(a.body)['ietf-mnat:output']['watcher-id'])).status, 200);
});
