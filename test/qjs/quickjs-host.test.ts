// The QuickJS host under the real qjs (QuickJS 2021-03-27 built by
// build/qjs.sh, or $MNAT_QJS): a probe program (fixtures/host-probe.ts) is bundled the way
// the egress bundle is and run against node:http2 servers on 127.0.0.1 (TLS
// with client certificates, and h2c). Each test checks one part of its output.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { bundleQuickjs } from '../../build/qjs-bundle.mjs';
import { findOrBuildQjs } from './qjs-binary.ts';
import { collectProbeSteps } from './probe-steps.ts';

const root = new URL('../..', import.meta.url).pathname;
const results = new Map<string, unknown>();
const stderrLines: string[] = [];
let exitCode: number | null = null;
let scratch = '';
const servers: http2.Http2Server[] = [];
let foreverClosed = 0;

function makeCertificates(dir: string): void {
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=mnat test CA']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    run(['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=mnat test ${who}`]);
    run(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', `${who}.pem`, '-extfile', `${who}.ext`]);
  }
}

function handler(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void {
  const url = req.url;
  if (url === '/hello') {
    res.writeHead(200, { 'content-type': 'application/yang-data+json', 'x-test': 'yes', 'x-http': req.httpVersion });
    res.end('{"hello":"wörld"}');
  } else if (url.startsWith('/echo')) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(201, {
        'content-type': String(req.headers['content-type'] ?? 'none'),
        'x-method': req.method,
        'x-url': url,
        'x-custom': String(req.headers['x-custom'] ?? 'none'),
        'x-expect': String(req.headers['expect'] ?? 'none'),
      });
      res.end(Buffer.concat(chunks));
    });
  } else if (url === '/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const tick = (): void => {
      n++;
      res.write(`data: event ${n}\n\n`);
      if (n === 3) res.end();
      else setTimeout(tick, 150);
    };
    tick();
  } else if (url === '/forever') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': hello\n\n');
    res.stream.on('close', () => foreverClosed++);
  } else if (url === '/slow') {
    const timer = setTimeout(() => res.end('late'), 3000);
    res.stream.on('close', () => clearTimeout(timer));
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not here');
  }
}

function listen(server: http2.Http2Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function waitFor(step: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (results.has(step)) return resolve();
      if (exitCode !== null || Date.now() > deadline) {
        return reject(new Error(`qjs probe never reported ${step}; exit ${exitCode}; stderr:\n${stderrLines.join('\n')}`));
      }
      setTimeout(check, 20);
    };
    check();
  });
}

before(async () => {
  const qjs = findOrBuildQjs();
  scratch = mkdtempSync(join(tmpdir(), 'mnat-qjs-'));
  makeCertificates(scratch);
  const tlsPort = await listen(
    http2.createSecureServer(
      {
        key: readFileSync(join(scratch, 'server.key')),
        cert: readFileSync(join(scratch, 'server.pem')),
        ca: readFileSync(join(scratch, 'ca.pem')),
        requestCert: true,
        rejectUnauthorized: true,
      },
      handler,
    ) as unknown as http2.Http2Server,
  );
  const h2cPort = await listen(http2.createServer(handler));
  const v6Server = http2.createServer(handler);
  servers.push(v6Server);
  const v6Port = await new Promise<number>((resolve) => v6Server.listen(0, '::1', () => resolve((v6Server.address() as AddressInfo).port)));
  // A port that refuses: bind, note it, close.
  const closedServer = http2.createServer();
  const refusedPort = await new Promise<number>((resolve) =>
    closedServer.listen(0, '127.0.0.1', () => {
      const p = (closedServer.address() as AddressInfo).port;
      closedServer.close(() => resolve(p));
    }),
  );

  const bundle = join(scratch, 'host-probe.js');
  await bundleQuickjs(join(root, 'test/qjs/fixtures/host-probe.ts'), bundle);
  const child = spawn(
    qjs,
    [
      bundle,
      join(scratch, 'files'),
      `https://127.0.0.1:${tlsPort}`,
      `http://127.0.0.1:${h2cPort}`,
      join(scratch, 'ca.pem'),
      join(scratch, 'client.pem'),
      join(scratch, 'client.key'),
      `http://127.0.0.1:${refusedPort}`,
      `http://[::1]:${v6Port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  collectProbeSteps(child.stdout, results, (line) => stderrLines.push(`(stdout) ${line}`));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderrLines.push(...chunk.split('\n')));
  const exited = new Promise<void>((resolve) => child.on('exit', (code) => ((exitCode = code ?? -1), resolve())));

  await waitFor('ready-for-signals', 60_000);
  child.kill('SIGHUP');
  await waitFor('signal-second-listener', 5000);
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (exitCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  if (results.has('fatal')) throw new Error(`probe failed: ${String(results.get('fatal'))}`);
});

after(async () => {
  for (const s of servers) await new Promise((r) => s.close(() => r(undefined)));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function get<T>(step: string): T {
  assert.ok(results.has(step), `the probe reported no "${step}"; stderr:\n${stderrLines.join('\n')}`);
  return results.get(step) as T;
}

test('exec collects stdout, stderr and the exit code', () => {
  assert.deepEqual(get('exec'), { code: 3, stdout: 'out\n', stderr: 'err\n' });
});

test('exec passes input (UTF-8) on stdin and reads big outputs without deadlock', () => {
  assert.deepEqual(get('exec-input'), { code: 0, stdout: 'héllo wörld € 😀\nline2', stderr: '' });
  assert.deepEqual(get('exec-big-input'), { code: 0, count: '300001' });
  assert.deepEqual(get('exec-big-output'), { code: 0, length: 500000 });
});

test('exec of a missing program reports 127 with a message', () => {
  const r = get<{ code: number; stderr: string }>('exec-missing');
  assert.equal(r.code, 127);
  assert.match(r.stderr, /mnat-no-such-tool: command not found/);
});

test('exec timeout kills the child and reports code null', () => {
  const r = get<{ code: number | null; stderr: string; elapsedMs: number }>('exec-timeout');
  assert.equal(r.code, null);
  assert.match(r.stderr, /killed after 200 ms/);
  assert.ok(r.elapsedMs >= 190 && r.elapsedMs < 5000, `elapsed ${r.elapsedMs}`);
});

test('several children run concurrently on the event loop', () => {
  assert.deepEqual(get('exec-parallel'), ['1', '2', '3', '4', '5']);
});

test('spawnLines streams lines of a long-running child; kill ends it', () => {
  const r = get<{ first: string[]; code: number | null }>('spawn-lines');
  assert.deepEqual(r.first, ['line 0', 'line 1', 'line 2']);
  assert.equal(r.code, null); // killed by SIGTERM
  assert.deepEqual(get('spawn-lines-tail'), { lines: ['a', 'b', 'no-newline'], code: 0 });
});

test('timers fire in deadline order and clearTimeout cancels', () => {
  const r = get<{ order: string[]; waitedMs: number; wallIsEpoch: boolean }>('timers');
  assert.deepEqual(r.order, ['10', '20', '30']);
  assert.ok(r.waitedMs >= 40, `monotonic clock advanced ${r.waitedMs} ms over a 50 ms timer`);
  assert.equal(r.wallIsEpoch, true);
});

test('files: atomic write leaves no temp file, reads, stat, remove', () => {
  const r = get<Record<string, unknown>>('files');
  assert.equal(r.content, '{"v":2,"text":"ünïcode"}');
  assert.equal(r.exists, true);
  assert.equal(r.missing, null);
  assert.equal(r.missingExists, false);
  assert.equal(r.mtimeRecent, true);
  assert.deepEqual(r.listing, ['state.json']);
  assert.equal(r.procUptime, true);
  assert.deepEqual(get('files-removed'), { exists: false, mtime: null });
  assert.match(get<string>('files-write-error'), /cannot write \/nonexistent-dir\/x\/\..*No such file or directory/);
});

test('curl transport: request over HTTP/2 + mTLS', () => {
  const r = get<{ status: number; headers: Record<string, string>; body: string }>('http-get');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-test'], 'yes');
  assert.equal(r.headers['x-http'], '2.0');
  assert.equal(r.headers['content-type'], 'application/yang-data+json');
  assert.equal(r.body, '{"hello":"wörld"}');
});

test('curl transport: body, method, query and headers reach the server intact', () => {
  const r = get<{ status: number; headers: Record<string, string>; sameBody: boolean }>('http-echo');
  assert.equal(r.status, 201);
  assert.equal(r.sameBody, true);
  assert.equal(r.headers['x-method'], 'PUT');
  assert.equal(r.headers['x-url'], '/echo?x=1');
  assert.equal(r.headers['content-type'], 'application/yang-data+json');
  assert.equal(r.headers['x-custom'], 'a "quoted" \\ value');
  assert.equal(r.headers['x-expect'], 'none');
  const empty = get<{ status: number; headers: Record<string, string>; body: string }>('http-empty-post');
  assert.equal(empty.status, 201);
  assert.equal(empty.headers['x-method'], 'POST');
  assert.equal(empty.body, '');
  assert.equal(get<{ status: number }>('http-404').status, 404);
});

test('curl transport: timeouts and refused connections are errors naming the request', () => {
  assert.match(get<string>('http-timeout'), /^GET \/slow: curl: \(28\)/);
  assert.match(get<string>('http-refused'), /^GET \/x: curl: \(7\)/);
  assert.match(get<string>('http-refused-stream'), /^GET \/y: curl: \(7\)/);
  assert.match(get<string>('http-no-client-cert'), /^GET \/hello: curl: \(\d+\)/);
  assert.match(get<string>('http-transport-close'), /transport closed/);
});

test('curl transport: a stream delivers data as it arrives', () => {
  const r = get<{ status: number; type: string; chunks: string[]; gaps: number[]; error: string | null }>('http-stream');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'text/event-stream');
  assert.equal(r.error, null);
  assert.equal(r.chunks.join(''), 'data: event 1\n\ndata: event 2\n\ndata: event 3\n\n');
  // Not buffered until the end: the events came in separate chunks, apart in time.
  assert.ok(r.chunks.length >= 3, `chunks: ${JSON.stringify(r.chunks)}`);
  assert.ok(r.gaps.slice(1).every((g) => g >= 100), `gaps: ${r.gaps.join(',')}`);
});

test('curl transport: close() stops the stream and calls nothing more', () => {
  assert.deepEqual(get('http-stream-close'), ['response', 'data']);
  assert.ok(foreverClosed >= 1);
});

test('curl transport: a stream that stays silent ends with an error (dead path detection)', () => {
  const r = get<{ error: string | null; afterMs: number }>('http-stream-idle');
  assert.match(r.error ?? '', /^GET \/forever: curl: \(28\)/);
  assert.ok(r.afterMs >= 1000 && r.afterMs < 20_000, `ended after ${r.afterMs} ms`);
  assert.equal(foreverClosed, 2, 'the server saw both /forever streams close');
});

test('curl transport: an IPv6 literal origin', () => {
  const r = get<{ status: number; body: string }>('h2c-v6-get');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"hello":"wörld"}');
});

test('curl transport: h2c with prior knowledge', () => {
  const r = get<{ status: number; headers: Record<string, string>; body: string }>('h2c-get');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-http'], '2.0');
  assert.equal(r.body, '{"hello":"wörld"}');
});

test('qjs resident memory after the probe (reported, not asserted)', (t) => {
  const rss = get<number | null>('rss-kib');
  assert.ok(rss !== null && rss > 0);
  t.diagnostic(`qjs RSS with the QuickJS host after the probe: ${rss} KiB`);
});

test('signals: SIGHUP reaches every listener, SIGTERM ends the program with 0', () => {
  assert.equal(get('signal'), 'SIGTERM');
  assert.equal(get('signal-second-listener'), 1);
  assert.equal(get('done'), true);
  assert.equal(exitCode, 0);
});
