// Long polls of GET …/assigned-channels/watcher=ID that end without a
// delivery (timeout, shutdown) while the watcher's version has already moved:
// the change is in memory, its fsync still running, deliver() not yet called.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WatcherAccess } from '../../src/server/restconf/access.ts';
import { AssignedChannels } from '../../src/server/restconf/assigned-channels.ts';
import { Responder } from '../../src/server/restconf/respond.ts';
import { PushHub } from '../../src/server/push/push-hub.ts';
import type { AnyRequest, AnyResponse } from '../../src/server/http/request.ts';
import type { StoreReads } from '../../src/server/store/store.ts';
import type { MappedChannel } from '../../src/protocol/model.ts';

const ID = 'w1';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function fakeStore(): { store: StoreReads; bump(): void } {
  let version = 1;
  const channels = (): MappedChannel[] =>
    version === 1 ? [] : [{ id: 7, state: 'assigned', global: { source: '192.0.2.1', group: '232.9.0.1' }, local: { source: '10.9.0.1', group: '232.255.0.1' } } as unknown as MappedChannel];
  const store = {
    hasWatcher: (id: string) => id === ID,
    version: () => version,
    assignedChannels: () => channels(),
  } as unknown as StoreReads;
  return { store, bump: () => version++ };
}

function setup(waitMs: number) {
  const { store, bump } = fakeStore();
  const access = { check() {} } as unknown as WatcherAccess;
  let assigned: AssignedChannels | undefined;
  const push = new PushHub({ exists: (id) => store.hasWatcher(id), entries: () => [], etag: (id) => (assigned as AssignedChannels).etagOf(id) });
  assigned = new AssignedChannels(store, access, push, new Responder(), { longPollMaxMs: waitMs, longPollDefaultMs: waitMs }, () => false);
  return { assigned, push, bump };
}

/** A GET over HTTP/1.1 (no req.stream) with If-None-Match; resolves with what was written. */
function get(assigned: AssignedChannels, ifNoneMatch: string): { done: Promise<void>; answer: Promise<Answer> } {
  const req = { method: 'GET', headers: { 'if-none-match': ifNoneMatch }, socket: null, readableEnded: true, resume() {}, on() {} } as unknown as AnyRequest;
  let resolveAnswer!: (a: Answer) => void;
  const answer = new Promise<Answer>((r) => (resolveAnswer = r));
  let status = 0;
  let headers: Record<string, string> = {};
  let ended = false;
  const res = {
    headersSent: false,
    get writableEnded() {
      return ended;
    },
    setHeader() {},
    writeHead(s: number, h: Record<string, string> = {}) {
      status = s;
      headers = { ...h };
    },
    write() {},
    end(chunk?: string | Buffer) {
      ended = true;
      resolveAnswer({ status, headers, body: chunk === undefined ? '' : String(chunk) });
    },
    on() {},
    off() {},
  } as unknown as AnyResponse;
  const done = Promise.resolve(assigned.entry(req, res, ID, undefined, false));
  return { done, answer };
}

test('a long poll that times out unchanged answers 304 with the same ETag', async () => {
  const { assigned } = setup(20);
  const etag = assigned.etagOf(ID);
  const { answer } = get(assigned, etag);
  const a = await answer;
  assert.equal(a.status, 304);
  assert.equal(a.headers.etag, etag);
});

test('a long poll that times out after the ETag moved (not yet delivered) answers 200 with the current entry', async () => {
  const { assigned, bump } = setup(50);
  const etag = assigned.etagOf(ID);
  const { answer } = get(assigned, etag);
  bump(); // in memory, deliver() not called
  const a = await answer;
  assert.equal(a.status, 200, 'If-None-Match no longer matches: not 304');
  assert.notEqual(a.headers.etag, etag);
  assert.equal(a.headers.etag, assigned.etagOf(ID));
  assert.equal(a.headers['cache-control'], 'no-cache');
  assert.equal(JSON.parse(a.body)['ietf-mnat:watcher'][0]['mapped-sg'].length, 1, 'the current entry');
});

test('a long poll ended by shutdown after the ETag moved answers 200 with the current entry', async () => {
  const { assigned, push, bump } = setup(60_000);
  const etag = assigned.etagOf(ID);
  const { answer, done } = get(assigned, etag);
  bump();
  push.closeAll();
  const a = await answer;
  await done;
  assert.equal(a.status, 200);
  assert.equal(a.headers.etag, assigned.etagOf(ID));
});

test('a long poll ended by shutdown unchanged answers 304', async () => {
  const { assigned, push } = setup(60_000);
  const etag = assigned.etagOf(ID);
  const { answer } = get(assigned, etag);
  push.closeAll();
  const a = await answer;
  assert.equal(a.status, 304);
  assert.equal(a.headers.etag, etag);
});
