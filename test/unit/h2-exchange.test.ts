// What H2Exchange hands to node:http2's respond(): its own Date on every
// answer (http-date.ts), so Node never adds one itself; and a prepared JSON
// body goes to the stream as the same bytes, not encoded again.
import assert from 'node:assert/strict';
import type { ServerHttp2Stream } from 'node:http2';
import { test } from 'node:test';
import { H2Exchange } from '../../src/server/http/request.ts';

function fakeStream() {
  const responded: Array<Record<string, unknown>> = [];
  const ended: unknown[] = [];
  const stream = {
    headersSent: false,
    writableEnded: false,
    destroyed: false,
    closed: false,
    respond(headers: Record<string, unknown>) {
      responded.push(headers);
      this.headersSent = true;
    },
    end(chunk?: unknown) {
      ended.push(chunk);
      this.writableEnded = true;
    },
  };
  return { stream: stream as unknown as ServerHttp2Stream, responded, ended };
}

const IMF_FIXDATE = /^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/;

test('H2Exchange: the fast JSON answer, with and without an ETag, carries a Date', () => {
  for (const etag of [undefined, '"a.1"']) {
    const { stream, responded, ended } = fakeStream();
    const body = Buffer.from('{}');
    new H2Exchange(stream, { ':method': 'GET', ':path': '/' }).json(200, body, '2', etag);
    assert.match(String(responded[0]?.date), IMF_FIXDATE);
    assert.equal(responded[0]?.[':status'], 200);
    assert.equal(ended[0], body, 'the prepared bytes themselves');
  }
});

test('H2Exchange: writeHead adds a Date and keeps one the application set', () => {
  const { stream, responded } = fakeStream();
  new H2Exchange(stream, { ':method': 'GET', ':path': '/' }).writeHead(404, { 'content-type': 'text/plain' });
  assert.match(String(responded[0]?.date), IMF_FIXDATE);
  assert.equal(responded[0]?.[':status'], 404);
  const other = fakeStream();
  new H2Exchange(other.stream, { ':method': 'GET', ':path': '/' }).writeHead(200, { date: 'Thu, 01 Jan 1970 00:00:00 GMT' });
  assert.equal(other.responded[0]?.date, 'Thu, 01 Jan 1970 00:00:00 GMT');
});
