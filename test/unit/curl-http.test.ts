import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { curlConfig, curlQuote, CurlHeadParser, createCurlHttpTransport } from '../../src/host/curl-http.ts';
import type { ChildExit, SpawnFunction } from '../../src/host/quickjs-process.ts';
import { RequestInterrupted } from '../../src/host/host.ts';

const h2 = { http2: true, version: '8.0.0' };

test('curlQuote escapes what curl config files unescape', () => {
  assert.equal(curlQuote('plain'), '"plain"');
  assert.equal(curlQuote('a "b" \\ c\nd\re\tf'), '"a \\"b\\" \\\\ c\\nd\\re\\tf"');
});

test('curlQuote output is read back by the real curl exactly', () => {
  // curl prints the write-out string as its config gave it (after its own unescaping).
  const value = 'a "quoted" \\ value\twith a tab';
  const config = `url = "file:///dev/null"\nsilent\nwrite-out = ${curlQuote(value)}\n`;
  const r = spawnSync('curl', ['-K', '-'], { input: config, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, value);
});

test('curlConfig: TLS target, body, headers, timeouts', () => {
  const text = curlConfig(
    { origin: 'https://[2001:db8::1]:8443/', caFile: '/etc/mnat/ca.pem', certFile: '/etc/mnat/c.pem', keyFile: '/etc/mnat/c.key' },
    { method: 'PUT', path: '/restconf/data/x=1', body: '{"a":"b"}', headers: { Accept: 'application/yang-data+json' }, timeoutMs: 2500 },
    h2,
    false,
  );
  const lines = text.trim().split('\n');
  assert.ok(lines.includes('url = "https://[2001:db8::1]:8443/restconf/data/x=1"'));
  assert.ok(lines.includes('request = "PUT"'));
  assert.ok(lines.includes('http2'));
  assert.ok(lines.includes('globoff'));
  assert.ok(lines.includes('include'));
  assert.ok(lines.includes('cacert = "/etc/mnat/ca.pem"'));
  assert.ok(lines.includes('cert = "/etc/mnat/c.pem"'));
  assert.ok(lines.includes('key = "/etc/mnat/c.key"'));
  assert.ok(lines.includes('max-time = 2.500'));
  assert.ok(lines.includes('header = "accept: application/yang-data+json"'));
  assert.ok(lines.includes('header = "content-type: application/yang-data+json"'));
  assert.ok(lines.includes('header = "expect:"'));
  assert.ok(lines.includes('data-raw = "{\\"a\\":\\"b\\"}"'));
  assert.ok(!lines.includes('no-buffer'));
  assert.ok(!lines.some((l) => l.startsWith('speed-')), 'requests use max-time, not the idle limit');
  assert.ok(!lines.includes('insecure'));
});

test('curlConfig: h2c prior knowledge, streams without a time limit, key defaults to the cert, no HTTP/2 in curl', () => {
  const h2c = curlConfig({ origin: 'http://127.0.0.1:8080' }, { method: 'GET', path: '/s' }, h2, true).split('\n');
  assert.ok(h2c.includes('http2-prior-knowledge'));
  assert.ok(h2c.includes('no-buffer'));
  assert.ok(h2c.includes('speed-limit = 1') && h2c.includes('speed-time = 60'), 'an idle stream ends after ~60 s');
  const never = curlConfig({ origin: 'http://127.0.0.1:8080' }, { method: 'GET', path: '/s' }, h2, true, 0).split('\n');
  assert.ok(!never.some((l) => l.startsWith('speed-')));
  assert.ok(!h2c.some((l) => l.startsWith('max-time')));
  assert.ok(!h2c.some((l) => l.startsWith('data-raw')));
  const request = curlConfig({ origin: 'http://127.0.0.1:8080' }, { method: 'GET', path: '/r' }, h2, false).split('\n');
  assert.ok(request.includes('max-time = 30.000'), 'requests default to 30 s like node-http');
  const combined = curlConfig({ origin: 'https://h:1', certFile: '/c.pem', insecureTls: true }, { method: 'GET', path: '/' }, h2, false).split('\n');
  assert.ok(combined.includes('key = "/c.pem"'));
  assert.ok(combined.includes('insecure'));
  const old = curlConfig({ origin: 'https://h:1' }, { method: 'GET', path: '/' }, { http2: false, version: '7.29.0' }, false).split('\n');
  assert.ok(!old.includes('http2') && !old.includes('http2-prior-knowledge'));
  assert.throws(() => curlConfig({ origin: 'https://h:1' }, { method: 'GET', path: '/', headers: { x: 'a\r\nInjected: 1' } }, h2, false), /line breaks/);
});

test('CurlHeadParser: head split across chunks, 1xx skipped, repeated headers joined', () => {
  const p = new CurlHeadParser();
  assert.equal(p.push('HTTP/1.1 100 Continue\r\n\r\nHTTP/2 2'), null);
  assert.equal(p.push('00 \r\nContent-Type: text/event-stream\r\nSet-Cookie: a\r\nset-cookie: b\r'), null);
  assert.equal(p.complete, false);
  assert.equal(p.push('\n\r\ndata: 1\n\n'), 'data: 1\n\n');
  assert.equal(p.status, 200);
  assert.deepEqual(p.headers, { 'content-type': 'text/event-stream', 'set-cookie': 'a, b' });
  assert.equal(p.push('more'), 'more');
});

test('CurlHeadParser: empty body and garbage', () => {
  const p = new CurlHeadParser();
  assert.equal(p.push('HTTP/2 204\n\n'), '');
  assert.equal(p.status, 204);
  assert.throws(() => new CurlHeadParser().push('<html>\r\n\r\n'), /unexpected response head/);
});

test('createCurlHttpTransport refuses an origin with a path', () => {
  const spawn: SpawnFunction = () => {
    throw new Error('not reached');
  };
  assert.throws(() => createCurlHttpTransport({ origin: 'https://h:1/restconf' }, spawn), /must look like https:\/\/host:port/);
});

/** A spawn whose curl prints nothing and ends as `exit` says. */
function curlThatEnds(exit: ChildExit, stderr = ''): SpawnFunction {
  return (_argv, options) => {
    setImmediate(() => {
      if (stderr) options.onStderr?.(stderr);
      options.onExit(exit);
    });
    return { pid: 1, kill() {} };
  };
}

test('a curl stopped by SIGINT, SIGTERM or SIGHUP it was not sent by the transport is RequestInterrupted; other deaths are failures', async () => {
  const target = { origin: 'https://h:1' };
  const GET = { method: 'GET', path: '/restconf/data/x' } as const;
  for (const signal of [1, 2, 15]) {
    const t = createCurlHttpTransport(target, curlThatEnds({ code: null, signal }), { http2: true });
    await assert.rejects(t.request(GET), (e: Error) => e instanceof RequestInterrupted && e.message === `GET /restconf/data/x: curl killed by signal ${signal}`);
  }
  const killed = createCurlHttpTransport(target, curlThatEnds({ code: null, signal: 9 }), { http2: true });
  await assert.rejects(killed.request(GET), (e: Error) => !(e instanceof RequestInterrupted) && /curl killed by signal 9/.test(e.message));
  const refused = createCurlHttpTransport(target, curlThatEnds({ code: 7, signal: null }, 'curl: (7) Failed to connect to h port 1\n'), { http2: true });
  await assert.rejects(refused.request(GET), (e: Error) => !(e instanceof RequestInterrupted) && /Failed to connect/.test(e.message));
  const ended = await new Promise<Error | undefined>((resolve) => {
    createCurlHttpTransport(target, curlThatEnds({ code: null, signal: 15 }), { http2: true }).stream(GET, { onResponse() {}, onData() {}, onEnd: resolve });
  });
  assert.ok(ended instanceof RequestInterrupted, 'a push stream ends the same way');
});
