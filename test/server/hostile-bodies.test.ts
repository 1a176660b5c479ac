// Request bodies from one hostile address (127.0.0.2): bodies held open are
// buffered only up to the per-connection and per-client limits (the rest are
// refused with 429 and reset), and bodies that stall or trickle are refused
// with 408 after the body timeout; a normal client on 127.0.0.1 is answered
// all along.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { ATTACKER, h2, holdBody, metric, statusOf, trickle } from '../../lab/hostile-clients.ts';
import { attacked } from './attacked.ts';
import { eventually } from './helpers.ts';

// refresh-watcher-id reads its body before anything else
const REFRESH = '/restconf/operations/ietf-mnat:refresh-watcher-id';

/** Resolves when `n` of the streams have closed, or after `ms`. */
function closedCount(statuses: Array<Promise<number>>, n: number, ms: number): Promise<number[]> {
  const done: number[] = [];
  return Promise.race([
    new Promise<number[]>((resolve) => {
      for (const p of statuses) void p.then((s) => (done.push(s), done.length >= n && resolve(done)));
    }),
    new Promise<number[]>((r) => setTimeout(() => r(done), ms)),
  ]);
}

test('bodies held open: buffered up to 1 MiB per connection and 4 MiB per client, the rest refused (429); stalled ones time out (408)', async (t) => {
  const { target, opened, normal, metrics } = await attacked(t, ['--insecure']);
  const sessions: ClientHttp2Session[] = [];
  for (let i = 0; i < 8; i++) sessions.push(await h2(opened, target, ATTACKER));
  const streams: ClientHttp2Stream[] = [];
  for (const s of sessions) for (let k = 0; k < 100; k++) streams.push(holdBody(s, 'POST', REFRESH, 60_000));
  const statuses = streams.map(statusOf);
  // 4 MiB / 60 000 B: at most 69 bodies of this client fit; every other one is refused.
  const refused = await closedCount(statuses, streams.length - 69, 20_000);
  assert.ok(refused.length >= streams.length - 69, `only ${refused.length} of ${streams.length} held bodies were refused`);
  assert.ok(refused.every((s) => s === 429), `refusals answered ${[...new Set(refused)].join(', ')}`);
  let text = await metrics();
  const buffered = metric(text, 'mnat_request_body_bytes_buffered');
  assert.ok(buffered <= 4 * 1024 * 1024, `${buffered} bytes buffered`);
  assert.ok(metric(text, 'mnat_limit_refusals_total{limit="body-buffer-per-client"}') + metric(text, 'mnat_limit_refusals_total{limit="body-buffer-per-connection"}') >= streams.length - 69, text);
  // The held ones stall: refused after the body timeout (10 s without data).
  const all = await closedCount(statuses, streams.length, 20_000);
  assert.equal(all.length, streams.length, `${streams.length - all.length} held bodies still open`);
  assert.ok(all.filter((s) => s === 408).length >= 1);
  text = await metrics();
  assert.equal(metric(text, 'mnat_request_body_bytes_buffered'), 0);
  assert.ok(metric(text, 'mnat_limit_refusals_total{limit="body-timeout"}') >= 1, text);
  const r = await normal();
  assert.deepEqual(r.failures, [], 'the normal client was answered throughout');
});

test('bodies trickled at 1 byte per second are refused (408) once slower than the minimum rate', async (t) => {
  const { target, opened, normal, metrics } = await attacked(t, ['--insecure']);
  const session = await h2(opened, target, ATTACKER);
  const streams = Array.from({ length: 20 }, () => holdBody(session, 'POST', REFRESH, 0));
  const stops = streams.map((s) => trickle(s, 1000, '{'));
  t.after(() => stops.forEach((stop) => stop()));
  const statuses = await closedCount(streams.map(statusOf), streams.length, 25_000);
  assert.equal(statuses.length, streams.length, `${streams.length - statuses.length} trickling bodies still open`);
  assert.ok(statuses.every((s) => s === 408), `answered ${[...new Set(statuses)].join(', ')}`);
  const text = await metrics();
  assert.ok(metric(text, 'mnat_limit_refusals_total{limit="body-timeout"}') >= 20, text);
  const r = await normal();
  assert.deepEqual(r.failures, []);
});

// A regression guard rather than a fix: Node resets a stream whose body was never read once the answer is out.
test('a request refused before its body is read does not hold its stream open', async (t) => {
  const { target, opened } = await attacked(t, ['--insecure']);
  const session = await h2(opened, target, ATTACKER);
  // An unknown watcher is refused (404) before the body is read; the body never ends.
  const streams = Array.from({ length: 50 }, () => holdBody(session, 'PUT', '/restconf/data/ietf-mnat:egress-global-joined/watcher=unknown', 1000));
  const statuses = await closedCount(streams.map(statusOf), streams.length, 5000);
  assert.equal(statuses.length, streams.length, `${streams.length - statuses.length} refused requests still hold their stream`);
  assert.ok(statuses.every((s) => s === 404));
});

// An HTTP/2 body has no 'aborted' or 'error' listener of its own: the stream's destroy ends its read (h2-stream.ts).
test('a body the client abandons mid-way (RST_STREAM CANCEL or NO_ERROR) stops being read at once, not at the body timeout', async (t) => {
  const { target, opened, normal, metrics } = await attacked(t, ['--insecure']);
  const session = await h2(opened, target, ATTACKER);
  const streams = Array.from({ length: 20 }, () => holdBody(session, 'POST', REFRESH, 100));
  const inProgress = async (): Promise<number> => metric(await metrics(), 'mnat_request_bodies_in_progress');
  await eventually(async () => (await inProgress()) === 20, 5000, 'the 20 held bodies being read');
  const closed = streams.map((s) => new Promise((resolve) => s.once('close', resolve)));
  streams.forEach((s, i) => s.close(i % 2 ? http2.constants.NGHTTP2_CANCEL : http2.constants.NGHTTP2_NO_ERROR));
  await Promise.all(closed);
  const started = Date.now();
  await eventually(async () => (await inProgress()) === 0, 5000, 'no body being read after the resets');
  assert.ok(Date.now() - started < 5000);
  const text = await metrics();
  assert.equal(metric(text, 'mnat_request_body_bytes_buffered'), 0);
  assert.equal(metric(text, 'mnat_limit_refusals_total{limit="body-timeout"}'), 0, 'no abandoned body waited for the body timeout');
  const r = await normal();
  assert.deepEqual(r.failures, []);
});
