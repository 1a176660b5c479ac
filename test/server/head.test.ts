// HEAD is answered on every path, over HTTP/2 (h2c and TLS) and HTTP/1.1:
// the status and headers a GET would get, no body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as http1Request } from 'node:http';
import { join } from 'node:path';
import { h2, NORMAL, Opened, request, type Target } from '../../lab/hostile-clients.ts';
import { devCerts, startServer, tlsArgs } from './helpers.ts';

/** Paths whose content changes from one request to the next (/metrics counts requests; /status shows uptime). */
const LIVE = new Set(['/metrics', '/status']);

/** Path → the status HEAD gets (what GET gets; 405 where GET is not allowed). */
function paths(id: string): Array<[string, number]> {
  return [
    ['/metrics', 200],
    ['/status', 200],
    ['/', 200],
    ['/.well-known/host-meta', 200],
    ['/.well-known/host-meta.json', 200],
    ['/restconf', 200],
    ['/restconf/data', 200],
    ['/restconf/operations', 200],
    ['/restconf/yang-library-version', 200],
    ['/restconf/data/ietf-mnat:assigned-channels', 200],
    [`/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`, 200],
    [`/restconf/data/ietf-mnat:egress-global-joined/watcher=${id}`, 404],
    ['/restconf/data/ietf-mnat:assigned-channels/watcher=unknown', 404],
    ['/restconf/operations/ietf-mnat:get-new-watcher-id', 405],
    ['/restconf/subscriptions/1.AAAAAAAAAAAAAAAA', 404],
    ['/nothing-here', 404],
  ];
}

async function newId(opened: Opened, target: Target): Promise<string> {
  const a = await request(await h2(opened, target, NORMAL), 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id');
  return JSON.parse(a.body)['ietf-mnat:output']['watcher-id'];
}

/** The stream path of a new subscription to the watcher's assigned-channels. */
async function subscriptionPath(opened: Opened, target: Target, id: string): Promise<string> {
  const a = await request(await h2(opened, target, NORMAL), 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', JSON.stringify({
    'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:on-change': {}, 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']` },
  }));
  assert.equal(a.status, 200, a.body);
  return new URL(JSON.parse(a.body)['ietf-subscribed-notifications:output']['ietf-restconf-subscribed-notifications:uri']).pathname;
}

/** HEAD of a subscription's stream: a GET's headers, and the stream is still there to open after it. */
async function headOfStream(opened: Opened, target: Target, id: string, head: (path: string) => Promise<{ status: number; headers: Record<string, unknown>; body: string }>): Promise<void> {
  const path = await subscriptionPath(opened, target, id);
  for (let i = 0; i < 2; i++) {
    const a = await head(path);
    assert.equal(a.status, 200, `HEAD ${path}`);
    assert.equal(a.headers['content-type'], 'text/event-stream');
    assert.equal(a.headers['cache-control'], 'no-cache');
    assert.equal(a.body, '');
  }
  // HEAD attached nothing: the one stream of the subscription opens and starts with its push-update.
  const stream = (await h2(opened, target, NORMAL)).request({ ':method': 'GET', ':path': path, accept: 'text/event-stream' });
  try {
    const first = await new Promise<{ status: number; data: string }>((resolve, reject) => {
      let status = 0;
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => resolve({ status, data: d }));
      stream.on('end', () => resolve({ status, data: '' }));
      stream.on('error', reject);
      setTimeout(() => reject(new Error(`GET ${path}: no event within 5 s`)), 5000).unref();
    });
    assert.equal(first.status, 200, `GET ${path} after HEAD`);
    assert.match(first.data, /push-update/);
  } finally {
    stream.close();
  }
}

async function headOverH2(t: { after(fn: () => void): void }, target: Target): Promise<void> {
  const opened = new Opened();
  t.after(() => opened.closeAll());
  const id = await newId(opened, target);
  const session = await h2(opened, target, NORMAL);
  for (const [path, status] of paths(id)) {
    const get = await request(session, 'GET', path);
    const head = await Promise.race([request(session, 'HEAD', path), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`HEAD ${path}: no answer within 5 s`)), 5000))]);
    assert.equal(head.status, status, `HEAD ${path}`);
    assert.equal(head.body, '', `HEAD ${path} has no body`);
    if (status === 200 && LIVE.has(path)) {
      // Counters, memory and uptime move between the GET and the HEAD: the length is the live one, about the same.
      const length = Number(head.headers['content-length']);
      assert.ok(Number.isInteger(length) && Math.abs(length - Buffer.byteLength(get.body)) <= 64, `HEAD ${path}: about the length a GET gets (${length} vs ${Buffer.byteLength(get.body)})`);
    } else if (status === 200) assert.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)), `HEAD ${path}: the length a GET gets`);
    assert.equal(head.headers['content-type'], get.headers['content-type'], `HEAD ${path}: the type a GET gets`);
    // mnat-server dates its HTTP/2 answers itself (http-date.ts), on the fast paths and the general one.
    for (const [what, answer] of [['GET', get], ['HEAD', head]] as const) {
      const date = String(answer.headers['date']);
      assert.match(date, /^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/, `${what} ${path}: an IMF-fixdate Date`);
      assert.ok(Math.abs(Date.parse(date) - Date.now()) < 5000, `${what} ${path}: Date ${date} is now`);
    }
  }
  await headOfStream(opened, target, id, (path) => request(session, 'HEAD', path));
}

test('HEAD over h2c on every path', async (t) => {
  const server = await startServer(t, ['--insecure']);
  await headOverH2(t, { port: server.port });
});

test('HEAD over HTTP/2 with TLS on every path', async (t) => {
  const server = await startServer(t, tlsArgs('none'));
  await headOverH2(t, { port: server.port, tls: { ca: join(devCerts(), 'ca.pem') } });
});

test('HEAD over HTTP/1.1 on every path', async (t) => {
  const server = await startServer(t, ['--insecure']);
  const opened = new Opened();
  t.after(() => opened.closeAll());
  const id = await newId(opened, { port: server.port });
  const head = (path: string) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const r = http1Request({ host: NORMAL, port: server.port, method: 'HEAD', path, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      r.on('timeout', () => r.destroy(new Error(`HEAD ${path}: no answer within 5 s`)));
      r.on('error', reject);
      r.end();
    });
  for (const [path, status] of paths(id)) {
    const answer = await head(path);
    assert.equal(answer.status, status, `HEAD ${path}`);
    assert.equal(answer.body, '');
  }
  await headOfStream(opened, { port: server.port }, id, head);
});
