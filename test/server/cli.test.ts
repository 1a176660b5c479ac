import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SseParser } from '../../src/protocol/sse.ts';
import { client, devCerts, newWatcher, req, startServer, tempDir } from './helpers.ts';

test('--help prints usage and exits 0; bad flags print one line and exit 2', async (t) => {
  const help = await startServer(t, ['--help'], { expectExit: true });
  assert.equal(await help.exited, 0);
  const text = help.lines.join('\n');
  for (const flag of ['--listen', '--tls-cert', '--tls-key', '--client-ca', '--require-client-cert', '--insecure', '--pool', '--state-dir', '--refresh-period', '--grace-period', '--max-joins-per-watcher', '--api-root']) {
    assert.ok(text.includes(flag), `usage mentions ${flag}`);
  }
  const dir = tempDir(t);
  const badPool = join(dir, 'pool.json');
  writeFileSync(badPool, JSON.stringify({ 'group-pool': { ranges: [{ 'group-range': '10.0.0.0/8' }] } }));
  for (const [args, pattern] of [
    [['--bogus'], /unknown option --bogus/],
    [['--refresh-period', 'soon', '--insecure'], /--refresh-period: "soon" is not a number/],
    [[], /TLS needs --tls-cert/],
    [['--insecure', '--require-client-cert'], /--require-client-cert needs --client-ca/],
    [['--insecure', '--listen', 'nowhere:port'], /not a port number/],
    [['--insecure', '--pool', join(dir, 'missing.json')], /--pool .*missing\.json/],
    [['--insecure', '--pool', badPool], /group-range/],
    [['--insecure', '--api-root', 'relative'], /--api-root/],
  ] as const) {
    const p = await startServer(t, [...args], { expectExit: true });
    assert.equal(await p.exited, 2, `${args.join(' ')}: ${p.lines.join('\n')}`);
    assert.equal(p.lines.length, 1, `one line for ${args.join(' ')}: ${p.lines.join('\n')}`);
    assert.match(p.lines[0] as string, pattern);
  }
});

test('TLS files that do not fit: the server names them and says why', async (t) => {
  const d = devCerts();
  for (const [args, pattern] of [
    [['--tls-cert', join(d, 'server.key'), '--tls-key', join(d, 'server.pem')], /TLS certificate .*server\.key holds no PEM certificate/],
    [['--tls-cert', join(d, 'server.pem'), '--tls-key', join(d, 'egress.key')], /TLS certificate .*server\.pem and key .*egress\.key: .*key values mismatch/],
    // Node took this and trusted no client certificate at all.
    [['--tls-cert', join(d, 'server.pem'), '--tls-key', join(d, 'server.key'), '--client-ca', join(d, 'server.key')], /client CA .*server\.key holds no PEM certificate/],
  ] as const) {
    const p = await startServer(t, [...args], { expectExit: true });
    assert.equal(await p.exited, 1, p.lines.join('\n'));
    assert.match(p.lines.at(-1) as string, pattern);
  }
});

test('a --state-dir that is a file: refused at start (it once ran read-only, waiting for a disk)', async (t) => {
  const file = join(tempDir(t), 'state');
  writeFileSync(file, '');
  const p = await startServer(t, ['--insecure', '--state-dir', file], { expectExit: true });
  assert.equal(await p.exited, 1, p.lines.join('\n'));
  assert.equal(p.lines.at(-1), `mnat-server: --state-dir ${file}: exists and is not a directory`);
});

test('a --state-dir that cannot be created (under /proc) starts read-only and says why, at once', async (t) => {
  // Node's recursive mkdirSync spins at 100 % CPU here (mkdir answers ENOENT while /proc exists):
  // the server would never print "listening" and startServer would fail.
  const server = await startServer(t, ['--insecure', '--state-dir', '/proc/mnat-no-such-dir/state']);
  await server.waitForLine(/starting read-only.*ENOENT/);
  const http = client(t, server.origin);
  assert.equal((await req(http, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id')).status, 503, 'changes are refused');
  assert.equal(await server.stop('SIGTERM'), 0);
});

test('stderr without a reader (`| head`): logging goes on quietly, SIGTERM still stops cleanly', async (t) => {
  const server = await startServer(t, ['--insecure', '--state-dir', tempDir(t)]);
  server.proc.stderr!.destroy();
  const http = client(t, server.origin);
  assert.equal((await req(http, 'POST', '/restconf/operations/ietf-mnat:get-new-watcher-id')).status, 200);
  // "shutting down" is logged first: unhandled, its EPIPE ended the process with 1 before the journal closed.
  assert.equal(await server.stop('SIGTERM'), 0);
});

test('SIGTERM ends push streams and long polls, flushes, exits 0', async (t) => {
  const dir = tempDir(t);
  const server = await startServer(t, ['--insecure', '--state-dir', dir]);
  const http = client(t, server.origin);
  const id = await newWatcher(http);
  const est = await req(http, 'POST', '/restconf/operations/ietf-subscribed-notifications:establish-subscription', {
    'ietf-subscribed-notifications:input': { 'ietf-yang-push:datastore': 'ietf-datastores:operational', 'ietf-yang-push:on-change': {}, 'ietf-yang-push:datastore-xpath-filter': `/ietf-mnat:assigned-channels/watcher[id='${id}']` },
  });
  const uri = new URL(est.json['ietf-subscribed-notifications:output']['ietf-restconf-subscribed-notifications:uri']);
  let events = 0;
  const parser = new SseParser(() => events++);
  const ended = new Promise<Error | undefined>((resolve) => {
    http.stream({ method: 'GET', path: uri.pathname, headers: { accept: 'text/event-stream' } }, { onResponse() {}, onData: (d) => parser.push(d), onEnd: resolve });
  });
  const etag = (await req(http, 'GET', `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`)).headers.etag as string;
  const held = req(http, 'GET', `/restconf/data/ietf-mnat:assigned-channels/watcher=${id}`, undefined, { 'if-none-match': etag, prefer: 'wait=60' });
  // the push-update arrived before we stop
  for (let i = 0; i < 200 && events === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(events, 1);
  const code = server.stop('SIGTERM');
  assert.equal((await held).status, 304, 'the held GET is answered');
  assert.equal(await ended, undefined, 'the push stream ends cleanly');
  assert.equal(await code, 0);
  assert.ok(server.lines.some((l) => /msg=stopped/.test(l)));
});
