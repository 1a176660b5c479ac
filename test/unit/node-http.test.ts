// createNodeHttpTransport against a local h2c server: requests, streams, and
// that an idle transport does not keep the process alive (child process check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http2';
import { createNodeHttpTransport } from '../../src/host/node-http.ts';

test('request, stream, errors', async (t) => {
  const server = createServer();
  server.on('stream', (stream, headers) => {
    if (headers[':path'] === '/echo') {
      let body = '';
      stream.setEncoding('utf8');
      stream.on('data', (d) => (body += d));
      stream.on('end', () => {
        stream.respond({ ':status': 201, 'x-type': String(headers['content-type']) });
        stream.end(body.toUpperCase());
      });
    } else if (headers[':path'] === '/sse') {
      stream.respond({ ':status': 200, 'content-type': 'text/event-stream' });
      stream.write('data: 1\n\n');
      setTimeout(() => stream.end('data: 2\n\n'), 10);
    } else {
      stream.respond({ ':status': 404 });
      stream.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const http = createNodeHttpTransport({ origin: `http://127.0.0.1:${port}` });
  t.after(() => http.close());
  const res = await http.request({ method: 'POST', path: '/echo', body: 'hello' });
  assert.equal(res.status, 201);
  assert.equal(res.body, 'HELLO');
  assert.equal(res.headers['x-type'], 'application/yang-data+json', 'a body defaults to the RESTCONF media type');
  assert.equal((await http.request({ method: 'GET', path: '/nothing' })).status, 404);
  const got: string[] = [];
  const ended = await new Promise<Error | undefined>((resolve) => {
    http.stream({ method: 'GET', path: '/sse' }, { onResponse: (s) => got.push(`status ${s}`), onData: (d) => got.push(d), onEnd: resolve });
  });
  assert.equal(ended, undefined);
  assert.deepEqual(got.join('|').replace(/\|/g, ''), 'status 200data: 1\n\ndata: 2\n\n');
  const dead = createNodeHttpTransport({ origin: 'http://127.0.0.1:1' });
  await assert.rejects(dead.request({ method: 'GET', path: '/' }), /ECONNREFUSED|closed/);
  dead.close();
  assert.throws(() => createNodeHttpTransport({ origin: 'ftp://x' }), /must start with https:\/\/ or http:\/\//);
  assert.throws(() => createNodeHttpTransport({ origin: 'https://x', caFile: '/nonexistent/ca.pem' }), /cannot read CA file/);
});

test('an idle transport does not keep the process alive', async (t) => {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  // The child makes one request and must then exit on its own although the
  // server keeps the HTTP/2 session open.
  const script = `
    import { createNodeHttpTransport } from '${new URL('../../src/host/node-http.ts', import.meta.url).pathname}';
    const http = createNodeHttpTransport({ origin: 'http://127.0.0.1:${port}' });
    const r = await http.request({ method: 'GET', path: '/' });
    console.log(r.body);`;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', new URL('../../build/ts-loader.mjs', import.meta.url).pathname, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(killer);
  assert.equal(out.trim(), 'ok');
  assert.equal(code, 0, 'the child exited by itself');
});
