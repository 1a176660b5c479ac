// The body reader's bookkeeping of bodies in progress (a list threaded
// through the bodies): counts stay right whatever order bodies end in, each
// `done` is called once, the connection's charge is released, and a sweep
// times out every stalled body even when refusing one ends another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { abandonBodyRead, BodyReader } from '../../src/server/http/body.ts';
import { ClientTable, DEFAULT_HTTP_LIMITS, Refusals } from '../../src/server/http/limits.ts';
import { CONN, type AnyRequest } from '../../src/server/http/request.ts';

type Result = { status: number | null; body: string };

/** A reader and a maker of requests whose `done` records the result, then runs `after`. */
function setup(): { reader: BodyReader; clients: ClientTable; request(after?: () => void): { req: AnyRequest & EventEmitter; results: Result[] } } {
  const clients = new ClientTable({ ...DEFAULT_HTTP_LIMITS, bodyTimeoutMs: 2000, bodyMinRate: 0 }, new Refusals());
  const conn = clients.connect('192.0.2.1');
  assert.ok(conn);
  const reader = new BodyReader(clients);
  const request = (after?: () => void) => {
    // An HTTP/1.1-shaped request: the reader listens for data, end, error and aborted.
    const req = Object.assign(new EventEmitter(), { headers: { 'content-length': '4' }, readableEnded: false, socket: { [CONN]: conn }, resume() {} }) as unknown as AnyRequest & EventEmitter;
    const results: Result[] = [];
    const done = (error: { status: number } | null, body: Buffer): void => {
      results.push({ status: error ? error.status : null, body: body.toString() });
      after?.();
    };
    reader.read(req, done, undefined);
    return { req, results };
  };
  return { reader, clients, request };
}

test('bodies ending in any order: the count, one done each, the connection charge released', (t) => {
  const { reader, clients, request } = setup();
  t.after(() => reader.close());
  const rs = [request(), request(), request(), request(), request()];
  assert.equal(reader.inProgress, 5);
  for (const i of [2, 0, 4]) {
    rs[i]!.req.emit('data', Buffer.from(`b${i}`));
    rs[i]!.req.emit('data', Buffer.from('!!'));
  }
  assert.equal(clients.bufferedBytes, 12, 'bytes being read are charged');
  for (const i of [2, 0, 4]) rs[i]!.req.emit('end');
  rs[2]!.req.emit('end'); // a second end changes nothing
  assert.equal(reader.inProgress, 2);
  assert.equal(clients.bufferedBytes, 0, 'released once read');
  assert.deepEqual(rs.map((r) => r.results), [[{ status: null, body: 'b0!!' }], [], [{ status: null, body: 'b2!!' }], [], [{ status: null, body: 'b4!!' }]]);
  rs[3]!.req.emit('aborted');
  rs[1]!.req.emit('end');
  assert.equal(reader.inProgress, 0);
  assert.equal(rs[3]!.results.length, 1);
  assert.equal(rs[3]!.results[0]!.status, 400);
  assert.deepEqual(rs[1]!.results, [{ status: null, body: '' }]);
});

test('a sweep times out every stalled body, also when refusing one ends another', (t) => {
  const { reader, clients, request } = setup();
  t.after(() => reader.close());
  const rs = [request(), request(), request()];
  // Refusing the newest (swept first) abandons the one after it in the list, as a closing stream would.
  rs.push(request(() => abandonBodyRead(rs[2]!.req, new Error('stream closed'))));
  reader.sweep();
  reader.sweep();
  rs[0]!.req.emit('data', Buffer.from('x')); // still sending: not stalled
  assert.equal(reader.inProgress, 4, 'nothing times out within the 2 s');
  reader.sweep();
  assert.equal(reader.inProgress, 1, 'the three silent for 3 s are refused');
  assert.deepEqual(
    rs.map((r) => r.results.map((x) => x.status)),
    [[], [408], [400], [408]],
  );
  assert.equal(clients.refusals.get('body-timeout'), 2, 'the one abandoned meanwhile is not counted as a timeout');
  rs[0]!.req.emit('end');
  assert.equal(reader.inProgress, 0);
});
