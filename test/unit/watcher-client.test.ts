// WatcherClient against a scripted transport: the fallbacks (push → long poll
// → poll) and recovery from ietf-mnat:unknown-watcher-id, without a server, on
// virtual time (fixtures/virtual-time.ts): backoffs and polls take no real time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWatcherClient, EGRESS_ROLE, INGRESS_ROLE, type WatcherStatus } from '../../src/client/watcher-client.ts';
import { createNodeHost } from '../../src/host/node-host.ts';
import { RequestInterrupted, type Host, type HttpRequest, type HttpResponse, type HttpTransport, type LogLevel, type Logger } from '../../src/host/host.ts';
import { createVirtualTime } from './fixtures/virtual-time.ts';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const time = createVirtualTime();
const host: Host = { ...createNodeHost(quiet), now: time.now, wallClock: time.wallClock, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout };

function assigned(id: string, groups: string[]): string {
  return JSON.stringify({
    'ietf-mnat:watcher': [{
      id,
      'mapped-sg': groups.map((g, i) => ({
        id: i + 1,
        state: 'ietf-mnat:assigned-local-multicast',
        'global-subscription': { source: '192.0.2.1', group: g },
        'local-mapping': { source: '192.0.2.1', group: `232.200.0.${i + 1}` },
      })),
    }],
  });
}

const unknown = JSON.stringify({ 'ietf-restconf:errors': { error: [{ 'error-type': 'application', 'error-tag': 'invalid-value', 'error-app-tag': 'ietf-mnat:unknown-watcher-id', 'error-message': 'x' }] } });

function scripted(handler: (req: HttpRequest) => HttpResponse): HttpTransport & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    async request(req) {
      log.push(`${req.method} ${req.path}`);
      return handler(req);
    },
    stream(_req, handlers) {
      queueMicrotask(() => handlers.onEnd(new Error('no streams here')));
      return { close() {} };
    },
    close() {},
  };
}

/**
 * A server that refuses connections while `fail` is set, then hands out watcher
 * id "w" (refresh period 10 s), takes PUTs, has no push and answers assigned-channels.
 */
function unreachableServer(): { transport: ReturnType<typeof scripted>; fail: boolean; getIdCalls: number; puts: number } {
  const server = {
    fail: true,
    getIdCalls: 0,
    puts: 0,
    transport: scripted((req): HttpResponse => {
      if (req.path.endsWith('get-new-watcher-id')) {
        server.getIdCalls++;
        if (server.fail) throw new Error('connect ECONNREFUSED');
        return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w', 'refresh-period': 10 } }) };
      }
      if (req.method === 'PUT') {
        server.puts++;
        return { status: 204, headers: {}, body: '' };
      }
      if (req.path.endsWith('establish-subscription')) return { status: 404, headers: {}, body: '' };
      return { status: 200, headers: { etag: '"1"' }, body: assigned('w', []) };
    }),
  };
  return server;
}

/** Moves virtual time until pred holds (at most 5 s of it). */
const until = (pred: () => boolean, what: string): Promise<void> => time.until(what, pred, 5000);

test('falls back from push to long polling to polling; unknown id → new id and a fresh PUT', async () => {
  let ids = 0;
  let polls = 0;
  const puts: string[] = [];
  const transport = scripted((req): HttpResponse => {
    if (req.path.endsWith('get-new-watcher-id')) {
      ids++;
      return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': `w${ids}`, 'refresh-period': 10 } }) };
    }
    if (req.path.endsWith('establish-subscription')) return { status: 404, headers: {}, body: '' };
    if (req.method === 'PUT') {
      puts.push(`${req.path} ${req.body}`);
      return { status: 204, headers: {}, body: '' };
    }
    if (req.method === 'GET') {
      polls++;
      // the first watcher is "forgotten" on the third poll
      if (ids === 1 && polls === 3) return { status: 404, headers: {}, body: unknown };
      return { status: 200, headers: {}, body: assigned(`w${ids}`, polls < 2 ? ['232.1.1.1'] : ['232.1.1.1', '232.1.1.2']) };
    }
    return { status: 500, headers: {}, body: '' };
  });
  const c = createWatcherClient({ host, transport, role: EGRESS_ROLE, pollIntervalMs: 10, backoffInitialMs: 5, backoffMaxMs: 20 });
  const statuses: WatcherStatus[] = [];
  const lists: number[] = [];
  c.on('status', (s) => statuses.push(s));
  c.on('assignments', (a) => lists.push(a.length));
  c.setDesired([{ source: '192.0.2.1', group: '232.1.1.1' }, { source: '192.0.2.1', group: '232.1.1.2' }]);
  c.start();
  await until(() => ids === 2 && puts.some((p) => p.includes('watcher=w2')) && polls >= 5, 'second id, re-PUT, polling');
  await c.stop();
  assert.deepEqual([...new Set(statuses.map((s) => s.mode))], ['push', 'long-poll', 'poll']);
  assert.ok(puts[0]?.includes('/restconf/data/ietf-mnat:egress-global-joined/watcher=w1'));
  const body = JSON.parse(puts[0]!.split(' ').slice(1).join(' '));
  assert.deepEqual(body['ietf-mnat:watcher'][0]['joined-sg'].map((j: any) => j.group), ['232.1.1.1', '232.1.1.2']);
  assert.deepEqual(lists.slice(0, 2), [1, 2], 'assignments are emitted when they change, not on every poll');
  const after = transport.log.length;
  await time.advance(50);
  assert.equal(transport.log.length, after, 'nothing runs after stop()');
});

test('transport errors back off and report disconnected; setDesired with the same set does not PUT again', async () => {
  const server = unreachableServer();
  const { transport } = server;
  const c = createWatcherClient({ host, transport, role: INGRESS_ROLE, backoffInitialMs: 5, backoffMaxMs: 20, longPollWaitS: 1 });
  const statuses: WatcherStatus[] = [];
  c.on('status', (s) => statuses.push(s));
  c.setDesired(['192.0.2.0/24']);
  c.start();
  await until(() => server.getIdCalls >= 3, 'retries');
  assert.ok(statuses.some((s) => !s.connected && /ECONNREFUSED/.test(s.lastError ?? '')));
  server.fail = false;
  await until(() => server.puts === 1, 'PUT after reconnect');
  c.setDesired(['192.0.2.0/24']);
  await time.advance(30);
  assert.equal(server.puts, 1);
  c.setDesired(['192.0.2.0/24', '198.51.100.0/24']);
  await until(() => server.puts === 2, 'PUT after a change');
  await c.stop();
});

const busy = (status: number): HttpResponse => ({
  status,
  headers: { 'retry-after': '1' },
  body: JSON.stringify({ 'ietf-restconf:errors': { error: [{ 'error-type': 'application', 'error-tag': 'resource-denied', 'error-app-tag': 'ietf-mnat:body-buffer-per-client', 'error-message': 'your address has too many request bodies in flight' }] } }),
});

test('a PUT answered 429 or 408 (per-address limit, slow body) is retried with backoff; any other 4xx is a refusal, not retried', async () => {
  for (const [status, retried] of [[429, true], [408, true], [422, false]] as const) {
    let puts = 0;
    const transport = scripted((req): HttpResponse => {
      if (req.path.endsWith('get-new-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w', 'refresh-period': 10 } }) };
      if (req.method === 'PUT') return ++puts === 1 ? busy(status) : { status: 204, headers: {}, body: '' };
      if (req.path.endsWith('establish-subscription')) return { status: 404, headers: {}, body: '' };
      return { status: 200, headers: { etag: '"1"' }, body: assigned('w', []) };
    });
    const c = createWatcherClient({ host, transport, role: EGRESS_ROLE, backoffInitialMs: 5, backoffMaxMs: 20, longPollWaitS: 1 });
    const errors: string[] = [];
    c.on('status', (s) => void (s.lastError && errors.push(s.lastError)));
    c.setDesired([{ source: '192.0.2.1', group: '232.1.1.1' }]);
    c.start();
    await time.advance(60_000);
    await c.stop();
    assert.equal(puts, retried ? 2 : 1, `HTTP ${status}`);
    assert.match(errors[0] ?? '', new RegExp(`HTTP ${status} resource-denied`), 'the server\'s reason is reported');
  }
});

test('establish-subscription answered 429 or 408 is retried with push, not given up for long polling', async () => {
  for (const status of [429, 408]) {
    let establishes = 0;
    const transport = scripted((req): HttpResponse => {
      if (req.path.endsWith('get-new-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w', 'refresh-period': 10 } }) };
      if (req.path.endsWith('establish-subscription')) {
        if (++establishes === 1) return busy(status);
        return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-subscribed-notifications:output': { id: 1, 'ietf-restconf-subscribed-notifications:uri': '/restconf/subscriptions/1' } }) };
      }
      return { status: 204, headers: {}, body: '' };
    });
    let streams = 0;
    transport.stream = () => (streams++, { close() {} });
    const c = createWatcherClient({ host, transport, role: EGRESS_ROLE, backoffInitialMs: 5, backoffMaxMs: 20 });
    const modes = new Set<string>();
    c.on('status', (s) => void modes.add(s.mode));
    c.start();
    await until(() => streams === 1, `the push stream after HTTP ${status}`);
    await c.stop();
    assert.equal(establishes, 2);
    assert.deepEqual([...modes], ['push'], `HTTP ${status}: still push`);
    assert.ok(!transport.log.some((l) => l.startsWith('GET')), 'no long poll');
  }
});

test('retryNow (the servers changed): a client waiting out its backoff tries at once; a connected one is left alone', async () => {
  const server = unreachableServer();
  const { transport } = server;
  // The backoff is 30 s from the start, so only retryNow can bring the next try sooner.
  const c = createWatcherClient({ host, transport, role: INGRESS_ROLE, backoffInitialMs: 30_000, backoffMaxMs: 30_000, random: () => 1, longPollWaitS: 1 });
  c.start();
  await until(() => server.getIdCalls === 1, 'the first try');
  await time.advance(1000);
  assert.equal(server.getIdCalls, 1, 'waiting out the 30 s backoff');
  server.fail = false;
  c.retryNow();
  await time.advance(1);
  assert.equal(server.getIdCalls, 2, 'retried at once');
  await until(() => c.id === 'w', 'connected');
  const calls = transport.log.length;
  c.retryNow();
  await time.advance(1);
  assert.equal(transport.log.length, calls, 'connected: nothing is sent early');
  await c.stop();
});

test('a request or push stream interrupted by a stop signal is logged as such (info), not as an unreachable server, and retried', async () => {
  const lines: string[] = [];
  const record = (level: LogLevel) => (msg: string) => void lines.push(`${level} ${msg}`);
  const logging: Host = { ...host, log: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') } };
  let getIdCalls = 0;
  let streams = 0;
  const transport: HttpTransport = {
    async request(req): Promise<HttpResponse> {
      if (req.path.endsWith('get-new-watcher-id')) {
        getIdCalls++;
        if (getIdCalls === 1) throw new RequestInterrupted('POST /x: curl killed by signal 15');
        if (getIdCalls === 2) throw new Error('POST /x: curl: (7) Failed to connect');
        return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w', 'refresh-period': 10 } }) };
      }
      if (req.path.endsWith('establish-subscription')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-subscribed-notifications:output': { id: 1, 'ietf-restconf-subscribed-notifications:uri': 'https://x:1/restconf/subscriptions/1' } }) };
      return { status: 204, headers: {}, body: '' };
    },
    stream(_req, h) {
      // The first push stream's curl is stopped by a signal; the second stays open.
      if (++streams === 1) queueMicrotask(() => h.onEnd(new RequestInterrupted('GET /restconf/subscriptions/1: curl killed by signal 15')));
      return { close() {} };
    },
    close() {},
  };
  const c = createWatcherClient({ host: logging, transport, role: EGRESS_ROLE, backoffInitialMs: 5, backoffMaxMs: 20 });
  c.start();
  await until(() => streams === 2, 'an id after two retries, a second push stream after the interrupted one');
  await c.stop();
  const interrupted = lines.filter((l) => l === 'info request to the MNAT server interrupted by a stop signal; retrying unless stopping');
  assert.equal(interrupted.length, 2, lines.join('\n'));
  assert.equal(lines.filter((l) => l === 'warn MNAT server unreachable').length, 1, 'only the real failure warns');
});

test('push: applies push-update and yang-patch edits (either member name); a silent or broken stream is re-established', async () => {
  let establishes = 0;
  const streams: Array<{ h: import('../../src/host/host.ts').HttpStreamHandlers; closed: boolean }> = [];
  const transport: HttpTransport = {
    async request(req): Promise<HttpResponse> {
      if (req.path.endsWith('get-new-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w', 'refresh-period': 10 } }) };
      if (req.path.endsWith('establish-subscription')) {
        establishes++;
        return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-subscribed-notifications:output': { id: establishes, 'ietf-restconf-subscribed-notifications:uri': `https://x:1/restconf/subscriptions/${establishes}` } }) };
      }
      return { status: 204, headers: {}, body: '' };
    },
    stream(req, h) {
      assert.match(req.path, /^\/restconf\/subscriptions\/\d+$/);
      const s = { h, closed: false };
      streams.push(s);
      return { close: () => void (s.closed = true) };
    },
    close() {},
  };
  const c = createWatcherClient({ host, transport, role: EGRESS_ROLE, pushIdleMs: 100, backoffInitialMs: 5, backoffMaxMs: 10 });
  const lists: string[][] = [];
  c.on('assignments', (a) => lists.push(a.map((m) => `${m.id}:${m.global.group}`)));
  c.start();
  await until(() => streams.length === 1, 'stream opened');
  const s1 = streams[0]!;
  const entry = (id: number, g: string) => JSON.parse(assigned('w', [g]))['ietf-mnat:watcher'][0]['mapped-sg'].map((e: any) => ({ ...e, id }))[0];
  const note = (n: unknown) => `data: ${JSON.stringify({ 'ietf-restconf:notification': { eventTime: 'now', ...(n as object) } })}\n\n`;
  s1.h.onResponse(200, { 'content-type': 'text/event-stream' });
  s1.h.onData(note({ 'ietf-yang-push:push-update': { id: 1, 'datastore-contents': { 'ietf-mnat:assigned-channels': { watcher: [{ id: 'w', 'mapped-sg': [entry(1, '232.1.1.1')] }] } } } }));
  const target = (n: number) => `/ietf-mnat:assigned-channels/watcher=w/mapped-sg=${n}`;
  // split across chunks, as a network would
  const change = note({ 'ietf-yang-push:push-change-update': { id: 1, 'datastore-changes': { 'ietf-yang-patch:yang-patch': { 'patch-id': 'p', edit: [
    { 'edit-id': 'e1', operation: 'create', target: target(2), value: { 'ietf-mnat:mapped-sg': [entry(2, '232.2.2.2')] } },
    { 'edit-id': 'e2', operation: 'delete', target: target(1) },
  ] } } } });
  s1.h.onData(change.slice(0, 30));
  s1.h.onData(change.slice(30));
  // RFC 8641's unqualified "yang-patch" (the change above has the name older servers sent)
  s1.h.onData(note({ 'ietf-yang-push:push-change-update': { id: 1, 'datastore-changes': { 'yang-patch': { 'patch-id': 'q', edit: [
    { 'edit-id': 'e1', operation: 'create', target: target(3), value: { 'ietf-mnat:mapped-sg': [entry(3, '232.3.3.3')] } },
  ] } } } }));
  assert.deepEqual(lists, [['1:232.1.1.1'], ['2:232.2.2.2'], ['2:232.2.2.2', '3:232.3.3.3']]);
  // silence: the watchdog closes it and a new subscription follows
  await until(() => streams.length === 2, 'watchdog reconnect');
  assert.equal(s1.closed, true);
  // garbage on the new stream: closed and re-established too
  streams[1]!.h.onResponse(200, {});
  streams[1]!.h.onData('data: {not json\n\n');
  await until(() => streams.length === 3, 'reconnect after a bad event');
  assert.equal(streams[1]!.closed, true);
  await c.stop();
});

test('stop with withdraw deletes what was PUT (the server releases the mappings now) and closes the transport', async () => {
  let closed = 0;
  const transport = scripted((req): HttpResponse => {
    if (req.path.endsWith('get-new-watcher-id')) return { status: 200, headers: {}, body: JSON.stringify({ 'ietf-mnat:output': { 'watcher-id': 'w/1', 'refresh-period': 10 } }) };
    if (req.path.endsWith('establish-subscription')) return { status: 404, headers: {}, body: '' };
    if (req.method === 'GET') return { status: 200, headers: { etag: '"1"' }, body: assigned('w/1', []) };
    return { status: 204, headers: {}, body: '' };
  });
  transport.close = () => void closed++;
  const c = createWatcherClient({ host, transport, role: EGRESS_ROLE, apiRoot: '/mnat', withdraw: true, closeTransport: true, longPollWaitS: 1 });
  c.setDesired([{ source: '192.0.2.1', group: '232.1.1.1' }]);
  c.start();
  await until(() => transport.log.some((l) => l.startsWith('PUT')), 'the PUT');
  await c.stop();
  assert.equal(transport.log.at(-1), 'DELETE /mnat/data/ietf-mnat:egress-global-joined/watcher=w%2F1', 'the PUT path, deleted');
  assert.equal(closed, 1);
  // Without the options (the ingress, a shared transport): no DELETE, the transport stays open.
  const plain = createWatcherClient({ host, transport, role: INGRESS_ROLE, longPollWaitS: 1 });
  plain.start();
  await until(() => transport.log.filter((l) => l.endsWith('get-new-watcher-id')).length === 2, 'the second id');
  const before = transport.log.length;
  await plain.stop();
  assert.ok(!transport.log.slice(before).some((l) => l.startsWith('DELETE')));
  assert.equal(closed, 1);
});
